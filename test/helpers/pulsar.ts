import { startCatbusd, type TestServer } from "./catbusd.ts";
import { within } from "./deadline.ts";
import { AsyncQueue } from "./queue.ts";

export const JWT_SECRET = "test-secret-of-at-least-thirty-two-characters";
export const ADMIN = { username: "admin", password: "your-secure-password" };

export interface PulsarServer extends TestServer {
  /** The Pulsar Relay door, e.g. http://127.0.0.1:41234 */
  pulsarUrl: string;
}

/** A catbusd with the Pulsar door on a free port and the README's admin bootstrapped. */
export async function startPulsar(
  extraArgs: string[] = [],
  options: Parameters<typeof startCatbusd>[1] = {},
): Promise<PulsarServer> {
  const server = await startCatbusd(["--pulsar-bind", "127.0.0.1:0", ...extraArgs], {
    ...options,
    env: {
      PULSAR_JWT_SECRET_KEY: JWT_SECRET,
      PULSAR_BOOTSTRAP_ADMIN_USERNAME: ADMIN.username,
      PULSAR_BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
      ...options.env,
    },
  });
  // The listening line in the text or the JSON log format.
  const listening = / pulsar=(\S+)|"pulsar":"([^"]+)"/.exec(server.log());
  const pulsarUrl = listening?.[1] ?? listening?.[2];
  if (!pulsarUrl) {
    await server.stop();
    throw new Error(`catbusd did not log a pulsar= listener:\n${server.log()}`);
  }
  return { ...server, pulsarUrl };
}

/** The environment that puts a Pulsar door's state and messages in the Valkey at `url`. */
export function pulsarValkeyEnv(url: string): Record<string, string> {
  const { hostname, port } = new URL(url);
  return {
    PULSAR_STORAGE_BACKEND: "valkey",
    PULSAR_VALKEY_HOST: hostname,
    PULSAR_VALKEY_PORT: port,
  };
}

/** A JSON request to the door; the status and the parsed body (null when empty). */
export async function api(
  server: PulsarServer,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
  headers: Record<string, string> = {},
  // deno-lint-ignore no-explicit-any -- JSON bodies of every endpoint, checked by the tests
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${server.pulsarUrl}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

export async function login(server: PulsarServer, username: string, password: string) {
  const res = await fetch(`${server.pulsarUrl}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username, password }),
  });
  const body = await res.json();
  if (res.status !== 200) {
    throw new Error(`login ${username}: ${res.status} ${JSON.stringify(body)}`);
  }
  return body as { access_token: string; refresh_token: string; expires_in: number };
}

/** A login's answer, whatever its status (see untilStatus). */
export async function loginStatus(server: PulsarServer, username: string, password: string) {
  const res = await fetch(`${server.pulsarUrl}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username, password }),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

/** Registers a user through the admin and logs it in. */
export async function userWith(
  server: PulsarServer,
  adminToken: string,
  username: string,
  permissions: string[],
) {
  const password = `${username}-password`;
  const made = await api(server, "POST", "/auth/register", adminToken, {
    username,
    password,
    permissions,
  });
  if (made.status !== 201) throw new Error(`register ${username}: ${JSON.stringify(made.body)}`);
  return {
    id: made.body.user_id as string,
    token: (await login(server, username, password)).access_token,
  };
}

/** A WebSocket to `/ws`: its frames (parsed) in a queue, its close as a promise. */
export async function openWs(server: PulsarServer, query = "", protocols?: string[]) {
  const ws = new WebSocket(`${server.pulsarUrl.replace(/^http/, "ws")}/ws${query}`, protocols);
  // deno-lint-ignore no-explicit-any -- frames of every type, checked by the tests
  const frames = new AsyncQueue<Record<string, any>>();
  const closed = Promise.withResolvers<CloseEvent>();
  ws.onmessage = (e) => frames.push(JSON.parse(e.data));
  ws.onclose = (e) => closed.resolve(e);
  await within(
    new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("websocket failed to open"));
    }),
    15_000,
    "websocket open",
  );
  return {
    ws,
    frames,
    closed: within(closed.promise, 15_000, "websocket close"),
    send: (frame: unknown) => ws.send(JSON.stringify(frame)),
    /** The next frame of `type` (others before it are skipped, and listed if none comes). */
    async next(type: string) {
      const seen: unknown[] = [];
      for (;;) {
        const f = await frames.next(`a "${type}" frame (got ${JSON.stringify(seen)})`);
        if (f.type === type) return f;
        seen.push(f);
      }
    },
    close: () => ws.close(),
  };
}

/** A README example with its placeholders filled in: the token and the host. */
export async function readmeExample(file: string, token: string, server: PulsarServer) {
  return (await Deno.readTextFile(new URL(`../fixtures/pulsar-readme/${file}`, import.meta.url)))
    .replace('"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."', JSON.stringify(token))
    .replaceAll("localhost:8080", new URL(server.pulsarUrl).host);
}

/** The README's setting: a public `notifications` topic of the admin, and a reader `consumer1`. */
export async function notificationsTopic(server: PulsarServer) {
  const admin = (await login(server, ADMIN.username, ADMIN.password)).access_token;
  const consumer = await userWith(server, admin, "consumer1", ["read"]);
  await api(server, "POST", "/api/v1/topics", admin, {
    topic_name: "notifications",
    is_public: true,
  });
  return { admin, consumer };
}

/**
 * Retries `attempt` until it answers `status` (another node applies a shared store's change when
 * its notification arrives, an instant after the change was answered); fails after 10 s.
 */
export async function untilStatus(
  status: number,
  attempt: () => ReturnType<typeof api>,
  what: string,
): ReturnType<typeof api> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await attempt();
    if (res.status === status) return res;
    if (Date.now() > deadline) {
      throw new Error(`${what}: still ${res.status} ${JSON.stringify(res.body)} after 10 s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
