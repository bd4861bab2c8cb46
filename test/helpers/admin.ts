/** The admin API as the console and scripts call it: with the admin key, or a console session. */
import type { TestServer } from "./catbusd.ts";

export interface AdminAnswer {
  status: number;
  body: Record<string, unknown> & { items?: Record<string, unknown>[] };
  headers: Headers;
}

/** A call with the admin key as bearer token. */
export async function admin(
  server: TestServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${server.adminKey}` },
): Promise<AdminAnswer> {
  const response = await fetch(`${server.httpUrl}/admin/api${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

/** Logs in as the console does: the session cookie and CSRF token. */
export async function login(
  server: TestServer,
): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const answer = await admin(server, "POST", "/login", { key: server.adminKey }, {});
  if (answer.status !== 200) {
    throw new Error(`login: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  const setCookie = answer.headers.get("set-cookie")!;
  return { cookie: setCookie.split(";")[0], csrf: answer.body.csrf as string, setCookie };
}
