/** The admin API as the console calls it (docs/admin-api.md): the session cookie and CSRF token. */
export const API = "/admin/api";

let csrf: string | undefined;
let onLoggedOut = () => {};

/** Called when the session is gone (a 401): the app shows the login page. */
export function whenLoggedOut(f: () => void): void {
  onLoggedOut = f;
}

export function setSession(token: string | undefined): void {
  csrf = token;
}

// deno-lint-ignore no-explicit-any -- JSON answers of every route, read by the pages
export type Answer = any;

export async function api(method: string, path: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (method !== "GET") headers["x-catbus-csrf"] = csrf ?? "";
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(API + path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401 && path !== "/login" && path !== "/session") {
    csrf = undefined;
    onLoggedOut();
  }
  if (!response.ok) throw new Error(`${answer.code ?? response.status}: ${answer.message ?? ""}`);
  return answer;
}
