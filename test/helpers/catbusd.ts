/**
 * Starts a real `catbusd` process on free ports with a fresh data directory, for end-to-end
 * tests. Ports are chosen by the OS (`:0`) and read back from the server's start-up line.
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { within } from "./deadline.ts";

const MAIN = fromFileUrl(new URL("../../src/server/main.ts", import.meta.url));
const LAUNCHER = fromFileUrl(new URL("../../bin/catbusd.mjs", import.meta.url));
const ROOT = fromFileUrl(new URL("../..", import.meta.url));
const CLI = fromFileUrl(new URL("../../src/cli/main.ts", import.meta.url));

export interface TestServer {
  httpUrl: string;
  wsUrl: string;
  tcpUrl: string;
  tcpPort: number;
  /** The Bus HTTP/SSE dialect (always enabled in tests). */
  busUrl: string;
  /** The state-machine RCP listener's port, when started with `--rcp-bind 127.0.0.1:0`. */
  rcpPort?: number;
  data: string;
  adminKey: string;
  pid: number;
  /** The process's end (its exit code, or the signal that ended it). */
  exited: Promise<Deno.CommandStatus>;
  /** What the server logged so far (stderr). */
  log(): string;
  /**
   * Resolves with the server's log once `pattern` matches it — only what was logged after the
   * first `since` characters (`log().length` before the step that should log it); rejects
   * after `ms`.
   */
  waitForLog(pattern: RegExp, ms?: number, since?: number): Promise<string>;
  /** Runs the `catbus` CLI against this server's data directory and URL. */
  cli(
    args: string[],
    env?: Record<string, string>,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
  /** Kills the process without letting it clean up (a crash). */
  crash(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The fields of the whole `catbusd listening` line, in the text or the JSON log format. */
function listeningLine(log: string): Record<string, string> | undefined {
  for (const line of log.split("\n").slice(0, -1)) {
    if (line.startsWith("{")) {
      const fields = JSON.parse(line);
      if (fields.msg === "catbusd listening") return fields;
    } else if (/ catbusd listening /.test(line)) {
      return Object.fromEntries([...line.matchAll(/ (\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    }
  }
}

export async function startCatbusd(
  extraArgs: string[] = [],
  options: {
    data?: string;
    env?: Record<string, string>;
    /** A command that runs the server, e.g. `["prlimit", "--nofile=256:256"]`. */
    wrap?: string[];
    /** Start it through the node launcher bin/catbusd.mjs, directly or as `npm start`. */
    launcher?: "node" | "npm";
    /** Run this server command in place of the clone's (e.g. an installed `catbusd`). */
    command?: string[];
    /** Leave out `--data` and `--log-level`, so the environment (`options.env`) sets them. */
    settingsFromEnv?: boolean;
  } = {},
): Promise<TestServer> {
  const data = options.data ??
    await Deno.makeTempDir({ prefix: "catbus-test-" });
  const adminKey = "test-admin-key";
  const [command, ...wrapArgs] = [
    ...options.wrap ?? [],
    ...options.command
      ? options.command
      : options.launcher === "node"
      ? ["node", LAUNCHER]
      : options.launcher === "npm"
      ? ["npm", "start", "--silent", "--"]
      : [Deno.execPath(), "run", "-A", "--unstable-net", MAIN],
  ];
  const child = new Deno.Command(command, {
    args: [
      ...wrapArgs,
      "--bind",
      "127.0.0.1:0",
      "--tcp-bind",
      "127.0.0.1:0",
      "--bus-bind",
      "127.0.0.1:0",
      ...(options.settingsFromEnv ? [] : ["--data", data, "--log-level", "info"]),
      "--admin-key",
      adminKey,
      ...extraArgs,
    ],
    ...(options.env ? { env: options.env } : {}),
    ...(options.launcher === "npm" ? { cwd: ROOT } : {}),
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let listening: Record<string, string> | undefined;
  while (!listening) {
    const { value, done } = await within(lines.read(), 30_000, "catbusd listening").catch(
      (e) => {
        child.kill("SIGKILL");
        throw new Error(`${e.message}:\n${buffered}`);
      },
    );
    if (done) throw new Error(`catbusd exited before listening:\n${buffered}`);
    buffered += value;
    listening = listeningLine(buffered);
  }
  // Keep draining stderr so the child never blocks on a full pipe; echo it for debugging.
  let logged = buffered;
  const logWaiters = new Set<() => void>();
  (async () => {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) break;
      logged += value;
      for (const wake of logWaiters) wake();
      if (Deno.env.get("CATBUS_TEST_VERBOSE")) console.error(value);
    }
  })();
  const waitForLog = (pattern: RegExp, ms = 10_000, since = 0) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(logged.slice(since))) return;
        clearTimeout(timer);
        logWaiters.delete(check);
        resolve(logged);
      };
      const timer = setTimeout(() => {
        logWaiters.delete(check);
        reject(new Error(`catbusd did not log ${pattern} within ${ms} ms:\n${logged}`));
      }, ms);
      logWaiters.add(check);
      check();
    });
  const { http: httpUrl, websocket: wsUrl, tcp: tcpUrl } = listening;
  const busUrl = listening.bus ?? "";
  const rcpUrl = listening.rcp;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    if (!options.data) {
      await Deno.remove(data, { recursive: true }).catch(() => {});
    }
  };
  return {
    httpUrl,
    wsUrl,
    tcpUrl,
    tcpPort: Number(new URL(tcpUrl).port),
    busUrl,
    rcpPort: rcpUrl ? Number(new URL(rcpUrl).port) : undefined,
    data,
    adminKey,
    pid: child.pid,
    exited: child.status,
    log: () => logged,
    waitForLog,
    async cli(args, env = {}) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLI, ...args],
        env: { CATBUS_DATA: data, CATBUS_URL: wsUrl, ...env },
        stdin: "null",
      }).output();
      const decode = (b: Uint8Array) => new TextDecoder().decode(b);
      return {
        code: out.code,
        stdout: decode(out.stdout),
        stderr: decode(out.stderr),
      };
    },
    stop,
    async crash() {
      child.kill("SIGKILL");
      await child.status;
    },
    [Symbol.asyncDispose]: stop,
  };
}
