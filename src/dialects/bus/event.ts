/**
 * Bus events ↔ Catbus messages. A Bus event is stored as an ordinary message: its payload is
 * the JSON payload, `trace_id` and `key` become headers of those names and `response_subject`
 * becomes the `reply_to` header, so native clients see Bus requests as requests and vice versa.
 */
import { base64url } from "../../auth/crypto.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import type { BusMessage } from "../../core/message.ts";
import { REPLY_TO_HEADER } from "../../../client/shared/reply-subjects.ts";

const decoder = new TextDecoder();
const EVENT_ID = /^e_[0-9A-HJKMNP-TV-Z]{20}$/;
const CONSUMER_ID = /^c_[a-z0-9]{20}$/;

export const TRACE_HEADER = "trace_id";
export const KEY_HEADER = "key";
export const REPLY_HEADER = REPLY_TO_HEADER;

/** `null`, possibly with whitespace around it (native publishers may send that). */
function isNull(payload: Uint8Array): boolean {
  if (payload.length > 16) return false;
  return decoder.decode(payload).trim() === "null";
}

/** `e_` + the message id (20 sortable characters). */
export const eventIdOf = (m: { id: string }): string => `e_${m.id}`;

export const isEventId = (id: string): boolean => EVENT_ID.test(id);

/** The message id inside an event id; bad_request when it is not one. */
export function messageIdOf(eventId: string, what = "event id"): string {
  if (!EVENT_ID.test(eventId)) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `${what} "${eventId}" is not an event id (e_ followed by 20 characters)`,
    );
  }
  return eventId.slice(2);
}

/** A Bus subject names its namespace in its first token: `orders.created`, not `orders`. */
export function checkBusSubject(subject: string): void {
  if (!subject.includes(".")) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `invalid subject: missing namespace; "${subject}" needs a first token naming its ` +
        `namespace, e.g. "${subject}.events"`,
    );
  }
}

export function checkConsumerId(id: string): void {
  if (!CONSUMER_ID.test(id)) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `consumer_id "${id}" is not a consumer id (c_ followed by 20 characters, from the ` +
        "X-BUS-CONSUMER-ID header of the subscription) nor a durable consumer with an open stream",
    );
  }
}

/** RFC 3339 with nanoseconds, as Go writes `time.RFC3339Nano` in UTC. */
export function rfc3339Nano(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
}

/**
 * The event as compact JSON, built around the payload's stored bytes (never re-serialized).
 * `attempt` is Catbus's addition for manual-ack deliveries.
 */
export function eventJson(m: BusMessage, attempt?: number): string {
  const h = m.headers ?? {};
  let json = `{"id":"${eventIdOf(m)}"`;
  if (h[TRACE_HEADER]) json += `,"trace_id":${JSON.stringify(h[TRACE_HEADER])}`;
  if (h[KEY_HEADER]) json += `,"key":${JSON.stringify(h[KEY_HEADER])}`;
  json += `,"subject":${JSON.stringify(m.channel)}`;
  if (h[REPLY_HEADER]) json += `,"response_subject":${JSON.stringify(h[REPLY_HEADER])}`;
  // As the original, an event without a payload (or a null one) has no payload field.
  if (m.binary) json += `,"payload":${JSON.stringify(base64url(m.payload))}`;
  else if (!isNull(m.payload)) json += `,"payload":${decoder.decode(m.payload)}`;
  json += `,"created_at":"${rfc3339Nano(m.time)}","index":${m.seq}`;
  if (attempt !== undefined) json += `,"attempt":${attempt}`;
  return json + "}";
}
