import { parseArgs } from "node:util";
import { isCatbusError } from "../core/errors.ts";
import { resolveConfig, SETTINGS } from "./config.ts";
import { startServer } from "./server.ts";

const USAGE = `catbusd — the Catbus server

Usage: catbusd [options]

Options (flag / environment / YAML key):
${
  SETTINGS.map((s) =>
    `  ${s.short ? `-${s.short}, ` : "    "}--${s.flag.padEnd(22)} ${s.help}\n` +
    `        ${s.env ? `env ${s.env}, ` : ""}yaml ${s.yaml}`
  ).join("\n")
}
      --config FILE            YAML configuration file (env CATBUS_CONFIG, RSTMDB_CONFIG)
  -h, --help                   show this help
`;

function die(message: string): never {
  console.error(`catbusd: ${message}`);
  Deno.exit(2);
}

const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
};
for (const s of SETTINGS) {
  options[s.flag] = {
    type: s.kind === "bool" ? "boolean" : "string",
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

const env = Deno.env.toObject();
// RSTMDB_CONFIG: rstmdb's name for the same thing (its YAML keys are settings here too).
const configPath = (flags.config as string | undefined) ?? env.CATBUS_CONFIG ?? env.RSTMDB_CONFIG;
let config;
try {
  const yaml = configPath
    ? { path: configPath, text: await Deno.readTextFile(configPath) }
    : undefined;
  config = resolveConfig({ flags, env, yaml });
} catch (e) {
  die(
    isCatbusError(e) ? e.message : `cannot read config ${configPath}: ${(e as Error).message}`,
  );
}

const DAEMON_CHILD = "CATBUS_DAEMON_CHILD";

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
      new URL(import.meta.url).pathname,
      ...args,
      "--log-file",
      logFile,
    ],
    env: { [DAEMON_CHILD]: "1" },
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
  console.error(`catbusd ready ${server.httpUrl}`);
}

let stopping = false;
const stop = async () => {
  if (stopping) Deno.exit(1);
  stopping = true;
  await server.close();
  if (config.pidfile) await Deno.remove(config.pidfile).catch(() => {});
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
