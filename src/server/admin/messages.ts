/** The admin API's view of stored messages: reading a namespace by seq or time, and a message as JSON. */
import type { Broker } from "../../core/broker.ts";
import type { BusMessage } from "../../core/message.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { base64url } from "../../auth/crypto.ts";
import { badRequest } from "./http.ts";

/** Messages looked at, at most, to fill one page (a filter that matches little stops here). */
export const MAX_SCANNED = 10_000;

const decoder = new TextDecoder();

/** A message as the console shows it: JSON text as text, raw bytes as base64url. */
export const messageView = (m: BusMessage) => ({
  seq: m.seq,
  id: m.id,
  channel: m.channel,
  time: new Date(m.time).toISOString(),
  ...(m.headers && Object.keys(m.headers).length ? { headers: m.headers } : {}),
  ...(m.binary ? { binary: true, payload_base64url: base64url(m.payload) } : {
    payload: decoder.decode(m.payload),
  }),
});

export const requireNamespace = (broker: Broker, name: string) => {
  const ns = broker.namespace(name);
  if (!ns) {
    throw new CatbusError(
      ErrorCode.NotFound,
      `no namespace "${name}"; GET /admin/api/namespaces lists them`,
    );
  }
  return ns;
};

/** `?from_seq=` or `?from_time=` (ISO 8601 or ms): the first sequence to read. */
export async function startOf(broker: Broker, name: string, url: URL): Promise<number> {
  const ns = requireNamespace(broker, name);
  const seq = url.searchParams.get("from_seq");
  const time = url.searchParams.get("from_time");
  if (seq !== null) {
    const n = Number(seq);
    if (!Number.isSafeInteger(n) || n < 0) throw badRequest("?from_seq= must be a sequence number");
    return Math.max(n, ns.firstSeq);
  }
  if (time !== null) {
    const ms = /^\d+$/.test(time) ? Number(time) : Date.parse(time);
    if (Number.isNaN(ms)) throw badRequest("?from_time= must be an ISO 8601 time or ms since 1970");
    return await ns.seekTime(ms);
  }
  return ns.firstSeq;
}

/**
 * Up to `limit` stored messages of `namespace` from `fromSeq` on that `keep` accepts, looking at
 * no more than MAX_SCANNED; `next` is where the following page starts (undefined at the end).
 */
export async function readPage(
  broker: Broker,
  namespace: string,
  fromSeq: number,
  limit: number,
  keep: (m: BusMessage) => boolean,
): Promise<{ items: BusMessage[]; next?: number }> {
  const ns = requireNamespace(broker, namespace);
  const items: BusMessage[] = [];
  let scanned = 0;
  let next = fromSeq;
  for await (const batch of broker.read(ns, fromSeq)) {
    for (const m of batch) {
      next = m.seq + 1;
      if (keep(m)) items.push(m);
      if (items.length >= limit || ++scanned >= MAX_SCANNED) {
        return { items, ...(next <= ns.lastSeq ? { next } : {}) };
      }
    }
  }
  return { items };
}
