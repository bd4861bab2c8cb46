/**
 * The Bus seed's CLI verbs, against catbusd's Bus listener (`--bus-bind`): `put`, `get`, `ack`.
 * They speak HTTP/SSE like the original, so they also work against ella.to/bus itself.
 */
import { CatbusError, ErrorCode } from "../core/errors.ts";
import { parseCommand, UsageError } from "./context.ts";
import { untilStopped } from "./connect.ts";

type Env = Record<string, string | undefined>;

const BUS_OPTIONS = {
  "bus-url": { type: "string" },
} as const;

/** --bus-url, CATBUS_BUS_URL, BUS_ADDR (":2021" style), else http://127.0.0.1:2021. */
function busUrl(values: Record<string, unknown>, env: Env): string {
  const flag = (values["bus-url"] as string | undefined) ?? env.CATBUS_BUS_URL;
  if (flag) return flag.replace(/\/$/, "");
  const addr = env.BUS_ADDR;
  if (addr) return `http://${addr.startsWith(":") ? "127.0.0.1" : ""}${addr}`;
  return "http://127.0.0.1:2021";
}

function authHeaders(values: Record<string, unknown>, env: Env): Record<string, string> {
  const token = (values.token as string | undefined) ?? env.CATBUS_TOKEN;
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function failOn(response: Response): Promise<void> {
  if (response.ok) return;
  const reason = (await response.text()).trim();
  throw new CatbusError(
    response.status === 404 ? ErrorCode.NotFound : ErrorCode.BadRequest,
    `${response.status} ${reason || response.statusText}`,
  );
}

/** `catbus put --subject S --data JSON [--trace-id T] [--key K]`: prints the event id. */
export async function putCommand(args: string[], env: Env): Promise<void> {
  const { values } = parseCommand(args, {
    ...BUS_OPTIONS,
    subject: { type: "string" },
    data: { type: "string" },
    "trace-id": { type: "string" },
    key: { type: "string" },
  });
  const v = values as Record<string, unknown>;
  if (!v.subject || v.data === undefined) {
    throw new UsageError(
      `usage: catbus put --subject S --data JSON, e.g. --data '{"hello":"world"}'`,
    );
  }
  let payload: unknown;
  try {
    payload = JSON.parse(v.data as string);
  } catch {
    payload = v.data; // Bus's CLI takes plain text as a JSON string
  }
  const response = await fetch(`${busUrl(v, env)}/`, {
    method: "POST",
    headers: { "content-type": "application/json", ...authHeaders(v, env) },
    body: JSON.stringify({
      subject: v.subject,
      payload,
      ...(v["trace-id"] ? { trace_id: v["trace-id"] } : {}),
      ...(v.key ? { key: v.key } : {}),
    }),
  });
  await failOn(response);
  console.log(JSON.stringify({
    id: response.headers.get("x-bus-event-id"),
    created_at: response.headers.get("x-bus-event-created-at"),
    index: Number(response.headers.get("x-bus-event-index")),
  }));
}

/**
 * `catbus get --subject S [--start oldest|newest|e_…] [--ack manual --redelivery 10s]`: one
 * event per line (the stored JSON). With manual ack, the consumer id is printed on stderr for
 * `catbus ack`.
 */
export async function getCommand(args: string[], env: Env): Promise<void> {
  const { values } = parseCommand(args, {
    ...BUS_OPTIONS,
    subject: { type: "string" },
    start: { type: "string" },
    ack: { type: "string" },
    redelivery: { type: "string" },
    "redelivery-count": { type: "string" },
    durable: { type: "string" },
    count: { type: "string" },
  });
  const v = values as Record<string, unknown>;
  if (!v.subject) throw new UsageError("usage: catbus get --subject S [--start oldest|newest|e_…]");
  const count = v.count === undefined ? Infinity : Number(v.count);
  if (!(count >= 1)) throw new UsageError("--count expects a number ≥ 1");
  const query = new URLSearchParams({ subject: v.subject as string });
  const params = {
    start: "start",
    ack: "ack",
    redelivery: "redelivery",
    "redelivery-count": "redelivery_count",
    durable: "durable",
  };
  for (const [flag, param] of Object.entries(params)) {
    if (v[flag] !== undefined) query.set(param, String(v[flag]));
  }
  const abort = new AbortController();
  const response = await fetch(`${busUrl(v, env)}/?${query}`, {
    headers: authHeaders(v, env),
    signal: abort.signal,
  });
  await failOn(response);
  const consumer = response.headers.get("x-bus-consumer-id");
  if (v.ack === "manual") {
    console.error(`catbus get: ack with catbus ack --consumer-id ${consumer} --event-id <id>`);
  }
  let seen = 0;
  const reading = (async () => {
    let buffer = "";
    let event = "";
    for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ") && event === "error") {
          throw new CatbusError(ErrorCode.Unavailable, line.slice(6));
        } else if (line.startsWith("data: ")) {
          console.log(line.slice(6));
          if (++seen >= count) return;
        }
      }
    }
  })();
  try {
    await untilStopped(reading);
  } finally {
    abort.abort();
    await reading.catch(() => {});
  }
}

/** `catbus ack --consumer-id C --event-id E`. */
export async function ackCommand(args: string[], env: Env): Promise<void> {
  const { values } = parseCommand(args, {
    ...BUS_OPTIONS,
    "consumer-id": { type: "string" },
    "event-id": { type: "string" },
  });
  const v = values as Record<string, unknown>;
  if (!v["consumer-id"] || !v["event-id"]) {
    throw new UsageError("usage: catbus ack --consumer-id c_… --event-id e_…");
  }
  const query = new URLSearchParams({
    consumer_id: v["consumer-id"] as string,
    event_id: v["event-id"] as string,
  });
  await failOn(
    await fetch(`${busUrl(v, env)}/?${query}`, { method: "PUT", headers: authHeaders(v, env) }),
  );
}
