import type { MessageMeta } from "../../client/shared/messages.ts";

/** A published message as the core holds it. The payload stays in its wire bytes. */
export interface BusMessage extends MessageMeta {
  /** UTF-8 JSON text, or raw bytes when `binary`. Never re-serialized by the server. */
  payload: Uint8Array;
  binary: boolean;
  /** ms since the epoch after which it is not delivered any more (internal, not on the wire). */
  expiresAt?: number;
  /** A request's reply is refused after this time (ms; from its timeout; memory only). */
  replyBy?: number;
}

/**
 * The encodings of the message being fanned out, per wire format, so a fan-out to N subscribers
 * serializes once per format, not once per subscriber. One message at a time, and not on the
 * message: history keeps messages, and the young-generation GC copies every retained byte (a
 * cache property on each message also gave it a property array of its own).
 */
let encodedMessage: BusMessage | undefined;
/** Its formats and their encodings, side by side (a few formats; emptied without allocating). */
const formats: string[] = [];
const encodings: Uint8Array[] = [];

/** Returns the message's encoding for `format`, computed once while it is the latest one asked. */
export function encodedOnce(
  message: BusMessage,
  format: string,
  encode: (m: BusMessage) => Uint8Array,
): Uint8Array {
  if (encodedMessage !== message) forgetEncodings(message);
  const at = formats.indexOf(format);
  if (at >= 0) return encodings[at];
  const bytes = encode(message);
  formats.push(format);
  encodings.push(bytes);
  return bytes;
}

/**
 * Ends the reuse of the latest message's encodings (a fan-out is over: the same message may be
 * sent again changed, and its bytes are not kept alive). `next` is the message encoded from now.
 */
export function forgetEncodings(next?: BusMessage): void {
  encodedMessage = next;
  formats.length = encodings.length = 0;
}

/** Approximate retained size, for byte-bounded histories. */
export const messageBytes = (m: BusMessage): number => m.payload.length + m.channel.length + 96;
