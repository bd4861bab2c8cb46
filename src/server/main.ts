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
      --config FILE            YAML configuration file (env CATBUS_CONFIG)
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
  flags = parseArgs({ args: Deno.args, options, strict: true }).values;
} catch (e) {
  die(`${(e as Error).message}\n\n${USAGE}`);
}
if (flags.help) {
  console.log(USAGE);
  Deno.exit(0);
}

const env = Deno.env.toObject();
const configPath = (flags.config as string | undefined) ?? env.CATBUS_CONFIG;
let config;
try {
  const yaml = configPath
    ? { path: configPath, text: await Deno.readTextFile(configPath) }
    : undefined;
  config = resolveConfig({ flags, env, yaml });
} catch (e) {
  die(isCatbusError(e) ? e.message : `cannot read config ${configPath}: ${(e as Error).message}`);
}

if (config.daemon) {
  // Re-run ourselves without -d, detached, with output to a log file in the data directory.
  const args = Deno.args.filter((a) => a !== "-d" && a !== "--daemon");
  await Deno.mkdir(config.data, { recursive: true });
  const logPath = `${config.data}/catbusd.log`;
  const out = await Deno.open(logPath, { append: true, create: true });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  child.stdout.pipeTo(out.writable, { preventClose: true }).catch(() => {});
  child.stderr.pipeTo((await Deno.open(logPath, { append: true })).writable).catch(() => {});
  if (config.pidfile) await Deno.writeTextFile(config.pidfile, `${child.pid}\n`);
  console.log(`catbusd started in the background, pid ${child.pid}, log ${logPath}`);
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
