import { parseArgs } from "node:util";
import { isCatbusError } from "../../client/shared/errors.ts";
import { settingsHelp } from "../core/settings-resolve.ts";
import { resolveConfig, SETTING_GROUPS } from "./config.ts";
import { startServer } from "./server.ts";
import { VERSION } from "./version.ts";

const USAGE = `catbusd — the Catbus server

Usage: catbusd [options]

Options (flag / environment / YAML key):

${settingsHelp(SETTING_GROUPS)}

      --config FILE            YAML configuration file (env CATBUS_CONFIG, RSTMDB_CONFIG)
  -h, --help                   show this help
  -V, --version                print the version
`;

function die(message: string): never {
  console.error(`catbusd: ${message}`);
  Deno.exit(2);
}

const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
};
for (const s of SETTING_GROUPS.flatMap((g) => Object.values(g.settings))) {
  options[s.flag] = {
    type: s.kind.boolean ? "boolean" : "string",
    ...(s.short ? { short: s.short } : {}),
  };
}

let flags: Record<string, unknown>;
try {
  flags = parseArgs({ args: Deno.args, options, strict: true, allowNegative: true })
    .values;
} catch (e) {
  die(`${(e as Error).message}; see catbusd --help`);
}
if (flags.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if (flags.version) {
  console.log(`catbusd ${VERSION}`);
  Deno.exit(0);
}

const env = Deno.env.toObject();
// RSTMDB_CONFIG: rstmdb's name for the same thing (its YAML keys are settings here too).
const configPath = (flags.config as string | undefined) ?? env.CATBUS_CONFIG ?? env.RSTMDB_CONFIG;
let config;
try {
  const yaml = configPath
    ? { path: configPath, text: await Deno.readTextFile(configPath) }
    : undefined;
  config = resolveConfig({
    flags,
    env,
    yaml,
    warn: (message) => console.error(`catbusd: warning: ${message}`),
  });
} catch (e) {
  die(
    isCatbusError(e) ? e.message : `cannot read config ${configPath}: ${(e as Error).message}`,
  );
}

const DAEMON_CHILD = "CATBUS_DAEMON_CHILD";
/** Set by bin/run.mjs to its own pid. */
const LAUNCHER_PID = "CATBUS_LAUNCHER_PID";
const PARENT_POLL_MS = 500;

if (config.daemon) {
  // Re-run ourselves without -d, detached, logging to a file. Wait until the child listens (or
  // fails) so start-up errors reach this terminal, then leave it running.
  await Deno.mkdir(config.data, { recursive: true });
  const logFile = config.logFile ?? `${config.data}/catbusd.log`;
  const args = Deno.args.filter((a) => a !== "-d" && a !== "--daemon");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      "--node-modules-dir=manual",
      new URL(import.meta.url).pathname,
      ...args,
      "--log-file",
      logFile,
    ],
    // The background server outlives this process by design: no launcher watch for it.
    env: { [DAEMON_CHILD]: "1", [LAUNCHER_PID]: "" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    detached: true,
  }).spawn();
  let said = "";
  for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
    said += text;
    if (said.includes("catbusd ready")) break;
  }
  if (!said.includes("catbusd ready")) {
    die(said.trim() || "the background server exited at start-up");
  }
  console.log(
    `catbusd started in the background, pid ${child.pid}, log ${logFile}`,
  );
  child.unref();
  Deno.exit(0);
}

let server;
try {
  server = await startServer(config);
} catch (e) {
  die(e instanceof Error ? e.message : String(e));
}
if (config.pidfile) await Deno.writeTextFile(config.pidfile, `${Deno.pid}\n`);
if (Deno.env.get(DAEMON_CHILD)) {
  // Tell the parent we are up; stderr is not read after this.
  console.error(`catbusd ready ${Object.values(server.endpoints)[0]}`);
}

/** A drain that takes longer than this (a stuck store, a client that never lets go) is cut. */
const STOP_DEADLINE_MS = 10_000;

let stopping = false;
const stop = async (reason: string) => {
  if (stopping) Deno.exit(1);
  stopping = true;
  const deadline = setTimeout(() => {
    console.error(`catbusd: still stopping after ${STOP_DEADLINE_MS} ms (${reason}); exiting`);
    Deno.exit(1);
  }, STOP_DEADLINE_MS);
  await server.close(reason);
  clearTimeout(deadline);
  if (config.pidfile) await Deno.remove(config.pidfile).catch(() => {});
  Deno.exit(0);
};
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  Deno.addSignalListener(signal, () => stop(signal));
}

// Started by bin/catbusd.mjs (`npm start`): when that launcher dies without passing a signal on
// (SIGKILL, the OOM killer), this process is re-parented; it must not hold the ports and the data
// directory on its own.
const launcher = Number(Deno.env.get(LAUNCHER_PID));
if (launcher) {
  setInterval(() => {
    if (Deno.ppid !== launcher) stop("launcher gone");
  }, PARENT_POLL_MS);
}
