/**
 * The Bus seed's CLI verbs, against catbusd's Bus listener (`--bus-bind`): `put`, `get`, `ack`.
 * They speak HTTP/SSE like the original and take its flags (`--host`, `--confirm`,
 * `--redelivery-duration`, `--ack auto`), so they also work against ella.to/bus itself.
 */
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { parseCommand, UsageError } from "./context.ts";
import { untilStopped } from "./connect.ts";
import { randomId } from "../core/ids.ts";
import { jsonTextProblem } from "../core/json-scan.ts";

type Env = Record<string, string | undefined>;

const BUS_OPTIONS = {
  "bus-url": { type: "string" },
  host: { type: "string" },
} as const;

/** --bus-url (or the original's --host), CATBUS_BUS_URL, BUS_ADDR, else http://127.0.0.1:2021. */
function busUrl(values: Record<string, unknown>, env: Env): string {
  const flag = (values["bus-url"] ?? values.host) as string | undefined ?? env.CATBUS_BUS_URL;
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

/**
 * `catbus put --subject S [--data JSON] [--trace-id T] [--key K] [--confirm N]`. Data that is
 * JSON is sent as written, other text as a JSON string, none as `{}` (as the original). Prints
 * `id: e_…, index: N, created_at: …`. `--confirm N` waits, as Bus's Go client does, for N
 * replies on an inbox (consumers reply there when they ack).
 */
export async function putCommand(args: string[], env: Env): Promise<void> {
  const { values } = parseCommand(args, {
    ...BUS_OPTIONS,
    subject: { type: "string" },
    data: { type: "string" },
    "trace-id": { type: "string" },
    key: { type: "string" },
    confirm: { type: "string" },
  });
  const v = values as Record<string, unknown>;
  if (!v.subject) {
    throw new UsageError(
      `usage: catbus put --subject S [--data '{"hello":"world"}'] [--confirm N]`,
    );
  }
  const confirm = v.confirm === undefined ? 0 : Number(v.confirm);
  if (!Number.isSafeInteger(confirm) || confirm < 0) {
    throw new UsageError("--confirm expects the number of confirmations to wait for");
  }
  const data = (v.data as string | undefined) ?? "{}";
  // Any depth the shell can pass; the server applies its --max-json-depth.
  const isJson = jsonTextProblem(new TextEncoder().encode(data), Infinity) === undefined;
  const payload = isJson ? data : JSON.stringify(data);
  const url = busUrl(v, env);
  const inbox = confirm ? `_bus_.${randomId(20)}` : undefined;
  // Subscribed before publishing: inboxes are live traffic, a reply before it would be lost.
  const replies = inbox
    ? await openEventStream(`${url}/?ack=none&subject=${inbox}`, authHeaders(v, env))
    : undefined;
  try {
    const fields = {
      subject: v.subject,
      ...(v["trace-id"] ? { trace_id: v["trace-id"] } : {}),
      ...(v.key ? { key: v.key } : {}),
      ...(inbox ? { response_subject: inbox } : {}),
    };
    const response = await fetch(`${url}/`, {
      method: "POST",
      headers: { "content-type": "application/json", ...authHeaders(v, env) },
      body: `${JSON.stringify(fields).slice(0, -1)},"payload":${payload}}`,
    });
    await failOn(response);
    console.log(
      `id: ${response.headers.get("x-bus-event-id")}, ` +
        `index: ${response.headers.get("x-bus-event-index")}, ` +
        `created_at: ${response.headers.get("x-bus-event-created-at")}`,
    );
    if (replies) await untilStopped(replies.read(confirm));
  } finally {
    await replies?.close();
  }
}

/** An event stream's `msg` data lines; an `error` event throws. */
async function openEventStream(url: string, headers: Record<string, string>) {
  const abort = new AbortController();
  const response = await fetch(url, { headers, signal: abort.signal });
  await failOn(response);
  const lines = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "";
  return {
    response,
    /** Calls `each` for every event's data until `count` were read (or the stream ends). */
    async read(count: number, each: (data: string) => Promise<void> | void = () => {}) {
      let seen = 0;
      while (seen < count) {
        const { value, done } = await lines.read();
        if (done) return;
        buffer += value;
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0 && seen < count) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ") && event === "error") {
            throw new CatbusError(ErrorCode.Unavailable, line.slice(6));
          } else if (line.startsWith("data: ")) {
            await each(line.slice(6));
            seen++;
          }
        }
      }
    },
    async close() {
      abort.abort();
      await lines.cancel().catch(() => {});
    },
  };
}

/**
 * `catbus get --subject S [--start oldest|newest|e_…] [--ack manual|auto]
 * [--redelivery-duration 10s] [--redelivery-count N]`: one event per line (the stored JSON),
 * and `consumer-id: c_…` on stderr first (for `catbus ack`). `--ack auto` acks each event once
 * it is printed (as the original's auto-ack); `manual` leaves that to `catbus ack`.
 */
export async function getCommand(args: string[], env: Env): Promise<void> {
  const { values } = parseCommand(args, {
    ...BUS_OPTIONS,
    subject: { type: "string" },
    start: { type: "string" },
    ack: { type: "string" },
    redelivery: { type: "string" },
    "redelivery-duration": { type: "string" },
    "redelivery-count": { type: "string" },
    durable: { type: "string" },
    count: { type: "string" },
  });
  const v = values as Record<string, unknown>;
  if (!v.subject) throw new UsageError("usage: catbus get --subject S [--start oldest|newest|e_…]");
  const count = v.count === undefined ? Infinity : Number(v.count);
  if (!(count >= 1)) throw new UsageError("--count expects a number ≥ 1");
  if (v.ack !== undefined && !["none", "manual", "auto"].includes(v.ack as string)) {
    throw new UsageError("--ack expects none, manual or auto");
  }
  const query = new URLSearchParams({ subject: v.subject as string });
  const params: Record<string, unknown> = {
    start: v.start,
    ack: v.ack === "auto" ? "manual" : v.ack,
    redelivery: v["redelivery-duration"] ?? v.redelivery,
    redelivery_count: v["redelivery-count"],
    durable: v.durable,
  };
  for (const [param, value] of Object.entries(params)) {
    if (value !== undefined) query.set(param, String(value));
  }
  const url = busUrl(v, env);
  const stream = await openEventStream(`${url}/?${query}`, authHeaders(v, env));
  const consumer = stream.response.headers.get("x-bus-consumer-id");
  console.error(`consumer-id: ${consumer}`);
  const print = async (data: string) => {
    console.log(data);
    if (v.ack !== "auto") return;
    const eventId = JSON.parse(data).id;
    await ack(url, consumer!, eventId, authHeaders(v, env));
  };
  try {
    await untilStopped(stream.read(count, print));
  } finally {
    await stream.close();
  }
}

const ack = async (url: string, consumerId: string, eventId: string, headers: HeadersInit) => {
  const query = new URLSearchParams({ consumer_id: consumerId, event_id: eventId });
  await failOn(await fetch(`${url}/?${query}`, { method: "PUT", headers }));
};

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
  await ack(
    busUrl(v, env),
    v["consumer-id"] as string,
    v["event-id"] as string,
    authHeaders(v, env),
  );
}
