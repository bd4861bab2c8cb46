import { isCatbusError } from "../../client/shared/errors.ts";
import { UsageError } from "./context.ts";
import { VERSION } from "../server/version.ts";

const USAGE = `catbus — the Catbus command line

Tokens and roles (work offline, on the data directory, or in PostgreSQL with --database-url):
  catbus grant -p read|write|create|all PATTERN… [--client-id ID] [--expires 1h] [--to role-…]
  catbus role create --name NAME | show ROLE | list [--json] | delete ROLE
  catbus revoke -p PERMISSION PATTERN… --from role-…
  catbus init                      create the data directory and signing secret; with
                                   --database-url, create or migrate the database schema

Talking to a server:
  catbus publish CHANNEL JSON [--url URL] [--token T] [--header k=v]…
  catbus subscribe PATTERN [--url URL] [--token T] [--from new|last|first|SEQ] [--format json|text] [--count N]
  catbus status [--json] [--database-url URL]   server, role store, database (exit 1 if unhealthy)
  catbus admin GET|POST|DELETE /PATH [JSON]   the admin HTTP API (docs/admin-api.md), with
                                   the admin key as --token: e.g. GET /connections?door=native

Durable consumers (at-least-once, acks, redelivery, dead letters):
  catbus consumer add NAME PATTERN [--from first|new|SEQ] [--ack-wait 30s] [--max-deliver 5]
                      [--backoff 1s,10s] [--max-in-flight N] [--ack-policy explicit|none] [--dead-letter CH]
  catbus consumer list [--json] | delete NAME
  catbus consume NAME [--count N] [--format json|text]   print and ack each message

Bus-style verbs (the Bus HTTP/SSE listener, --bus-url or --host URL, or BUS_ADDR, default :2021):
  catbus put --subject S [--data JSON] [--trace-id T] [--key K] [--confirm N]
             prints id, index and created_at; --confirm waits for N replies (consumers' acks)
  catbus get --subject S [--start oldest|newest|e_…] [--ack none|manual|auto]
             [--redelivery-duration 10s] [--redelivery-count N] [--durable NAME] [--count N]
  catbus ack --consumer-id c_… --event-id e_…
  catbus namespace add NAME [--ephemeral] | list
                                      declare namespaces (the only ones served with --namespaces);
                                      --ephemeral: memory only, its messages are not stored

Pulsar Relay dialect (catbusd --pulsar-bind; offline, on the data directory):
  catbus pulsar user add NAME [--permissions admin,read,write] [--email E]   asks for the password

Storage (on the data directory, --data, --path or --dir; dump --data, restore, copy, compact,
repair refuse a live one):
  catbus debug [--namespace NS] [--json]      segments, counts, CRC check, missing records (exit 1)
  catbus dump [--data DIR | --url URL] [--namespace NS] [-o|--output FILE]   NDJSON, one a line
  catbus restore -i|--input FILE [--data DIR | --url URL | --host BUS_URL]   re-publish a dump
             (ids and times kept, except through --url; a message already there is skipped)
  catbus copy --from DIR|URL --to DIR|URL, or copy --dir DIR --src NS --dst NS
  catbus compact                  apply the retention limits now
  catbus repair                   keep every valid record, set damage aside, accept losses (new epoch)

Alle (catbusd --alle-bind; -w ws://host:port, env CATBUS_ALLE_URL, default ws://127.0.0.1:8080):
  catbus alle listen [CHANNELS…] [-w URL] [--token T]   REPL: sub, unsub, list, help, quit/exit
  catbus alle publish CHANNEL PAYLOAD [-w URL] [--token T]   success once the NOTIFY ran

State machines (catbusd --rcp-bind; rstmdb-cli's verbs and flags; \`catbus sm\` for details):
  catbus sm ping | info | put-machine | get-machine | list-machines | create-instance
  catbus sm get-instance | list-instances | delete-instance | apply-event | batch | wal-read
  catbus sm wal-stats | compact | flush-all | watch-instance ID | watch-all | unwatch SUB
  catbus sm hash-token TOKEN | repl | --version
      [-s HOST:PORT] [-t TOKEN] [--tls --ca-cert F --client-cert F --client-key F -k] [--json]

Common options: --data DIR (env CATBUS_DATA, default .catbus), --url URL (env CATBUS_URL,
default ws://127.0.0.1:4433; tcp://host:4434 also works), --token T (env CATBUS_TOKEN),
--secret S (env CATBUS_SECRET), --database-url URL (env CATBUS_DATABASE_URL, DATABASE_URL).
catbus --version prints the version.
Exit codes: 0 ok, 1 failed (reason on stderr), 2 usage error.
`;

type Command = (
  args: string[],
  env: Record<string, string | undefined>,
) => Promise<void>;
// Loaded on demand: token commands start fast and never load the network client.
const tokens = () => import("./tokens-cmd.ts");
const pubsub = () => import("./pubsub-cmd.ts");
const storage = () => import("./storage-cmd.ts");
const COMMANDS: Record<string, () => Promise<Command>> = {
  grant: async () => (await tokens()).grantCommand,
  revoke: async () => (await tokens()).revokeCommand,
  role: async () => (await tokens()).roleCommand,
  init: async () => (await tokens()).initCommand,
  status: async () => (await import("./status-cmd.ts")).statusCommand,
  admin: async () => (await import("./admin-cmd.ts")).adminCommand,
  namespace: async () => (await import("./namespace-cmd.ts")).namespaceCommand,
  debug: async () => (await storage()).debugCommand,
  dump: async () => (await storage()).dumpCommand,
  restore: async () => (await storage()).restoreCommand,
  copy: async () => (await storage()).copyCommand,
  compact: async () => (await storage()).compactCommand,
  repair: async () => (await storage()).repairCommand,
  publish: async () => (await pubsub()).publishCommand,
  pub: async () => (await pubsub()).publishCommand,
  subscribe: async () => (await pubsub()).subscribeCommand,
  sub: async () => (await pubsub()).subscribeCommand,
  consumer: async () => (await import("./consumer-cmd.ts")).consumerCommand,
  consume: async () => (await import("./consumer-cmd.ts")).consumeCommand,
  put: async () => (await import("./bus-cmd.ts")).putCommand,
  get: async () => (await import("./bus-cmd.ts")).getCommand,
  ack: async () => (await import("./bus-cmd.ts")).ackCommand,
  sm: async () => (await import("./sm-cmd.ts")).smCommand,
  pulsar: async () => (await import("./pulsar-cmd.ts")).pulsarCommand,
  alle: async () => (await import("./alle-cmd.ts")).alleCommand,
};

const [name, ...args] = Deno.args;
if (name === "--version" || name === "-V" || name === "version") {
  console.log(`catbus ${VERSION}`);
  Deno.exit(0);
}
if (
  !name || name === "help" || name === "--help" || name === "-h" ||
  args.includes("--help")
) {
  console.log(USAGE);
  Deno.exit(name ? 0 : 2);
}
const load = COMMANDS[name];
if (!load) {
  console.error(`catbus: unknown command "${name}"\n\n${USAGE}`);
  Deno.exit(2);
}
try {
  await (await load())(args, Deno.env.toObject());
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`catbus ${name}: ${e.message}`);
    Deno.exit(2);
  }
  console.error(
    `catbus ${name}: ${isCatbusError(e) ? `${e.code}: ${e.message}` : (e as Error).message}`,
  );
  Deno.exit(1);
}
