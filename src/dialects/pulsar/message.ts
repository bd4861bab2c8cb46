import type { BusMessage } from "../../core/message.ts";
import { topicOf } from "./access.ts";

/** Where a message's `metadata` travels: one header, so native readers see it as sent. */
export const METADATA_HEADER = "pulsar-metadata";

/**
 * A message id in the original's form, what Valkey stream ids look like: `<ms>-<n>`, here the
 * publish time and the message's sequence in the `pulsar` namespace, so ids increase per topic
 * and a `since` or `offset` id names a position to resume after.
 */
export const messageIdOf = (m: BusMessage): string => `${m.time}-${m.seq}`;

let isoMs = NaN;
let isoText = "";
/** A publish time (ms) in ISO 8601, as the original's timestamps; the last one is kept. */
export function isoTime(ms: number): string {
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

/** The sequence an id names, or undefined for anything that is not `<ms>-<n>`. */
export function seqOfId(id: string): number | undefined {
  const match = /^(\d{1,15})-(\d{1,15})$/.exec(id);
  return match ? Number(match[2]) : undefined;
}

const decoder = new TextDecoder();

/**
 * The one JSON shape of a delivered message, for WebSocket pushes, long-poll results and
 * history pages alike (the original sends three): `topic, message_id, payload, timestamp,
 * metadata`. Built as text around the payload's stored bytes, once per message.
 */
const fields = new WeakMap<BusMessage, string>();

export function messageFields(m: BusMessage): string {
  let text = fields.get(m);
  if (text === undefined) {
    text = `"message_id":${JSON.stringify(messageIdOf(m))},"topic":${
      JSON.stringify(topicOf(m.channel))
    },"payload":${decoder.decode(m.payload)},"timestamp":${
      JSON.stringify(isoTime(m.time))
    },"metadata":${m.headers?.[METADATA_HEADER] ?? "{}"}`;
    fields.set(m, text);
  }
  return text;
}

/** A message as the WebSocket pushes it. */
export const pushFrame = (m: BusMessage): string => `{"type":"message",${messageFields(m)}}`;

/** A message as a long-poll result or history page lists it. */
export const listItem = (m: BusMessage): string => `{${messageFields(m)}}`;
