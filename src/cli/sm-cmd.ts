import { RcpClient, RcpRequestError } from "../dialects/rcp/client.ts";
import { hashToken } from "../dialects/rcp/token-hashes.ts";
import { parseCommand, UsageError } from "./context.ts";
import { formatMachineList, formatResult } from "./sm-format.ts";

type Env = Record<string, string | undefined>;
type Values = Record<string, string | boolean | undefined>;

const VERSION = "0.1.0";

/** `catbus sm VERB …`: rstmdb-cli's verbs and flags, against catbusd's RCP listener. */
const OPTIONS = {
  server: { type: "string", short: "s" },
  token: { type: "string", short: "t" },
  tls: { type: "boolean" },
  "ca-cert": { type: "string" },
  "client-cert": { type: "string" },
  "client-key": { type: "string" },
  insecure: { type: "boolean", short: "k" },
  "server-name": { type: "string" },
  json: { type: "boolean" },
  name: { type: "string", short: "n" },
  version: { type: "string", short: "v" },
  machine: { type: "string", short: "m" },
  "machine-version": { type: "string", short: "V" },
  instance: { type: "string", short: "i" },
  id: { type: "string" },
  ctx: { type: "string", short: "c" },
  event: { type: "string", short: "e" },
  payload: { type: "string", short: "p" },
  "expected-state": { type: "string" },
  "expected-offset": { type: "string" },
  "idempotency-key": { type: "string" },
  state: { type: "string" },
  limit: { type: "string", short: "l" },
  offset: { type: "string" },
  mode: { type: "string" },
  from: { type: "string" },
  "from-offset": { type: "string" },
  force: { type: "boolean" },
  machines: { type: "string" },
  "from-states": { type: "string" },
  "to-states": { type: "string" },
  events: { type: "string" },
  "no-ctx": { type: "boolean" },
} as const;

export const SM_USAGE = `State machines (catbusd --rcp-bind; rstmdb-cli's verbs, output and flags):
  catbus sm ping | info | list-machines | wal-stats | compact [-f|--force] | flush-all
  catbus sm put-machine -n NAME -v VERSION DEFINITION_JSON|@FILE
  catbus sm get-machine -n NAME -v VERSION
  catbus sm create-instance -m MACHINE -V VERSION [-i|--id ID] [-c CTX_JSON]
      [--idempotency-key KEY]
  catbus sm get-instance ID | delete-instance ID [--idempotency-key KEY]
  catbus sm list-instances [--machine M] [--state S] [--limit N] [--offset N]
  catbus sm apply-event -i ID -e EVENT [-p PAYLOAD_JSON] [--expected-state S]
      [--idempotency-key KEY]
  catbus sm batch [--mode atomic|best_effort] OPS_JSON|@FILE
  catbus sm wal-read [-f|--from N] [-l|--limit N]
  catbus sm watch-instance ID | watch-all [--machines a,b] [--from-states …] [--to-states …]
      [--events …] [--no-ctx] [--from-offset N]      one JSON line per event
  catbus sm unwatch SUBSCRIPTION_ID | hash-token TOKEN | repl (one verb per line) | --version
  Options: -s HOST:PORT (env RSTMDB_SERVER, default 127.0.0.1:7401), -t TOKEN (env RSTMDB_TOKEN),
  --tls --ca-cert F --client-cert F --client-key F -k|--insecure --server-name NAME (env
  RSTMDB_TLS, RSTMDB_CA_CERT, RSTMDB_CLIENT_CERT, RSTMDB_CLIENT_KEY), --json (raw results)`;

/** rstmdb-cli's short flags that mean one thing per verb: `-f` and `-l`. */
function perVerbShorts(args: string[]): string[] {
  const verb = args.find((a) => !a.startsWith("-"));
  const shorts: Record<string, string> = verb === "compact"
    ? { "-f": "--force" }
    : verb === "wal-read"
    ? { "-f": "--from" }
    : {};
  return args.map((a) => shorts[a] ?? a);
}

async function json(text: string | undefined, what: string): Promise<unknown> {
  if (text === undefined) return undefined;
  const source = text.startsWith("@") ? await Deno.readTextFile(text.slice(1)) : text;
  try {
    return JSON.parse(source);
  } catch {
    throw new UsageError(`${what} must be JSON (or @FILE), got: ${text.slice(0, 80)}`);
  }
}

function integer(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`${what} must be a whole number, got ${text}`);
  }
  return n;
}

function required(v: Values, key: string, flag: string): string {
  const value = v[key];
  if (typeof value !== "string") throw new UsageError(`missing ${flag}; see catbus sm --help`);
  return value;
}

const list = (text: unknown) =>
  typeof text === "string" ? text.split(",").map((s) => s.trim()).filter(Boolean) : [];

async function connect(
  v: Values,
  env: Env,
  watching?: { onEvent: (e: Record<string, unknown>) => void; onClose: () => void },
) {
  const server = (v.server as string | undefined) ?? env.RSTMDB_SERVER ?? "127.0.0.1:7401";
  const colon = server.lastIndexOf(":");
  const port = Number(server.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port)) {
    throw new UsageError(`--server must be HOST:PORT, got ${server}`);
  }
  // As rstmdb-cli: any TLS option turns TLS on.
  const useTls = v.tls === true || env.RSTMDB_TLS === "true" || env.RSTMDB_TLS === "1" ||
    v.insecure === true || ["ca-cert", "client-cert", "RSTMDB_CA_CERT", "RSTMDB_CLIENT_CERT"]
    .some((k) => (v[k] ?? env[k]) !== undefined);
  const file = async (flag: string, envName: string) => {
    const path = (v[flag] as string | undefined) ?? env[envName];
    return path ? await Deno.readTextFile(path) : undefined;
  };
  return await RcpClient.connect({
    hostname: server.slice(0, colon).replace(/^\[|\]$/g, "") || "127.0.0.1",
    port,
    token: (v.token as string | undefined) ?? env.RSTMDB_TOKEN,
    tls: useTls
      ? {
        ca: await file("ca-cert", "RSTMDB_CA_CERT"),
        cert: await file("client-cert", "RSTMDB_CLIENT_CERT"),
        key: await file("client-key", "RSTMDB_CLIENT_KEY"),
        insecure: v.insecure === true,
        servername: v["server-name"] as string | undefined,
      }
      : undefined,
    clientName: "catbus-sm-cli",
    ...watching,
  });
}

/** The request a one-shot verb sends. */
async function requestFor(verb: string, v: Values, args: string[]): Promise<[string, unknown]> {
  const arg = (what: string) => {
    if (args.length !== 1) throw new UsageError(`usage: catbus sm ${verb} ${what}`);
    return args[0];
  };
  const key = v["idempotency-key"];
  switch (verb) {
    case "ping":
      return ["PING", {}];
    case "info":
      return ["INFO", {}];
    case "flush-all":
      return ["FLUSH_ALL", {}];
    case "list-machines":
      return ["LIST_MACHINES", {}];
    case "wal-stats":
      return ["WAL_STATS", {}];
    case "compact":
      return ["COMPACT", { force_snapshot: v.force === true }];
    case "put-machine":
      return ["PUT_MACHINE", {
        machine: required(v, "name", "-n NAME"),
        version: integer(required(v, "version", "-v VERSION"), "-v"),
        definition: await json(arg("-n NAME -v VERSION DEFINITION_JSON"), "the definition"),
      }];
    case "get-machine":
      return ["GET_MACHINE", {
        machine: required(v, "name", "-n NAME"),
        version: integer(required(v, "version", "-v VERSION"), "-v"),
      }];
    case "create-instance":
      return ["CREATE_INSTANCE", {
        machine: required(v, "machine", "-m MACHINE"),
        version: integer(required(v, "machine-version", "-V VERSION"), "-V"),
        instance_id: v.id ?? v.instance,
        initial_ctx: await json(v.ctx as string | undefined, "-c CTX"),
        idempotency_key: key,
      }];
    case "get-instance":
      return ["GET_INSTANCE", { instance_id: arg("ID") }];
    case "delete-instance":
      return ["DELETE_INSTANCE", { instance_id: arg("ID"), idempotency_key: key }];
    case "list-instances":
      return ["LIST_INSTANCES", {
        machine: v.machine,
        state: v.state,
        limit: integer(v.limit as string | undefined, "--limit"),
        offset: integer(v.offset as string | undefined, "--offset"),
      }];
    case "apply-event":
      return ["APPLY_EVENT", {
        instance_id: required(v, "instance", "-i ID"),
        event: required(v, "event", "-e EVENT"),
        payload: await json(v.payload as string | undefined, "-p PAYLOAD"),
        expected_state: v["expected-state"],
        expected_wal_offset: integer(
          v["expected-offset"] as string | undefined,
          "--expected-offset",
        ),
        idempotency_key: key,
      }];
    case "batch":
      return ["BATCH", {
        mode: v.mode ?? "best_effort",
        ops: await json(arg("OPS_JSON"), "the ops"),
      }];
    case "wal-read":
      return ["WAL_READ", {
        from_offset: integer(v.from as string | undefined, "--from") ?? 0,
        limit: integer(v.limit as string | undefined, "--limit"),
      }];
    case "unwatch":
      return ["UNWATCH", { subscription_id: arg("SUBSCRIPTION_ID") }];
  }
  throw new UsageError(`unknown verb "${verb}"\n\n${SM_USAGE}`);
}

/** Runs a one-shot verb's request on `client` and returns what to print. */
async function run(
  client: RcpClient,
  verb: string,
  v: Values,
  [op, params]: [string, unknown],
): Promise<string> {
  const result = await client.request(op, params);
  if (v.json === true) return JSON.stringify(result, null, 2);
  if (verb !== "list-machines") {
    return formatResult(verb, result, params as Record<string, unknown>);
  }
  const items = result.items as { machine: string; versions: number[] }[];
  return formatMachineList(
    await Promise.all(items.map(async ({ machine, versions }) => {
      const latest = versions.length ? Math.max(...versions) : undefined;
      const definition = latest === undefined ? undefined : (await client.request("GET_MACHINE", {
        machine,
        version: latest,
      })).definition as Record<string, unknown>;
      return { machine, latest, definition };
    })),
  );
}

/** Prints events until the connection ends or the user interrupts. */
async function watch(verb: string, v: Values, args: string[], env: Env) {
  const params = verb === "watch-instance"
    ? {
      instance_id: args.length === 1 ? args[0] : required(v, "instance", "ID"),
    }
    : {
      machines: list(v.machines),
      from_states: list(v["from-states"]),
      to_states: list(v["to-states"]),
      events: list(v.events),
    };
  const ended = Promise.withResolvers<void>();
  const client = await connect(v, env, {
    onEvent: (e) => {
      console.log(JSON.stringify(e));
      if (e.type === "end") ended.resolve();
    },
    onClose: ended.resolve,
  });
  const watching = await client.request(
    verb === "watch-instance" ? "WATCH_INSTANCE" : "WATCH_ALL",
    {
      ...params,
      include_ctx: v["no-ctx"] !== true,
      from_offset: integer(v["from-offset"] as string | undefined, "--from-offset"),
    },
  );
  console.error(
    verb === "watch-instance"
      ? `Watching instance ${params.instance_id} (sub_id: ${watching.subscription_id}, state: ${watching.current_state}, wal_offset: ${watching.current_wal_offset})`
      : `Watching all events (sub_id: ${watching.subscription_id}, wal_offset: ${watching.wal_offset})`,
  );
  console.error("Press Ctrl+C to stop...");
  const stop = () => ended.resolve();
  Deno.addSignalListener("SIGINT", stop);
  await ended.promise;
  Deno.removeSignalListener("SIGINT", stop);
  client.close();
}

/** Splits a REPL line into arguments; '…' and "…" group words (JSON arguments have spaces). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"((?:\\.|[^"\\])*)"|(\S+)/g)].map((m) =>
    m[1] ?? m[2] ?? m[3]
  );
}

/** One connection; each line is a verb with its flags, as on the command line. */
async function repl(v: Values, env: Env) {
  const client = await connect(v, env);
  const prompt = Deno.stdin.isTerminal() ? "rstmdb> " : "";
  const encoder = new TextEncoder();
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TransformStream<string, string>(
      {
        buffer: "",
        transform(chunk, out) {
          const parts = (this.buffer + chunk).split("\n");
          this.buffer = parts.pop()!;
          for (const line of parts) out.enqueue(line);
        },
        flush(out) {
          if (this.buffer) out.enqueue(this.buffer);
        },
      } as Transformer<string, string> & { buffer: string },
    ),
  );
  await Deno.stdout.write(encoder.encode(prompt));
  try {
    for await (const line of lines) {
      const args = perVerbShorts(words(line.trim()));
      if (args[0] === "exit" || args[0] === "quit") break;
      if (args.length) {
        try {
          const { values, positionals } = parseCommand(args, OPTIONS);
          const [verb, ...rest] = positionals;
          if (verb === "help") console.log(SM_USAGE);
          else {
            const merged = { ...v, ...values as Values };
            console.log(await run(client, verb, merged, await requestFor(verb, merged, rest)));
          }
        } catch (e) {
          console.error(
            `Error: ${e instanceof RcpRequestError ? `${e.code}: ` : ""}${(e as Error).message}`,
          );
        }
      }
      await Deno.stdout.write(encoder.encode(prompt));
    }
  } finally {
    client.close();
  }
}

export async function smCommand(args: string[], env: Env): Promise<void> {
  if (args.length === 1 && args[0] === "--version") {
    console.log(`catbus sm ${VERSION}`);
    return;
  }
  const { values, positionals } = parseCommand(perVerbShorts(args), OPTIONS);
  const [verb, ...rest] = positionals;
  const v = values as Values;
  if (!verb) throw new UsageError(SM_USAGE);
  if (verb === "hash-token") {
    if (rest.length !== 1) throw new UsageError("usage: catbus sm hash-token TOKEN");
    console.log(hashToken(rest[0]));
    return;
  }
  if (verb === "watch-instance" || verb === "watch-all") return await watch(verb, v, rest, env);
  if (verb === "repl") return await repl(v, env);
  const request = await requestFor(verb, v, rest);
  const client = await connect(v, env);
  try {
    console.log(await run(client, verb, v, request));
  } catch (e) {
    if (e instanceof RcpRequestError) throw new Error(`${e.code}: ${e.message}`);
    throw e;
  } finally {
    client.close();
  }
}
