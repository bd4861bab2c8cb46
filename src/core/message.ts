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
  /**
   * Encodings of this message per wire format, filled on first use so a fan-out to N
   * subscribers serializes once per format, not once per subscriber.
   */
  encoded?: Map<string, Uint8Array>;
}

/** Returns the message's encoding for `format`, computing it at most once. */
export function encodedOnce(
  message: BusMessage,
  format: string,
  encode: (m: BusMessage) => Uint8Array,
): Uint8Array {
  let cache = message.encoded;
  if (!cache) cache = message.encoded = new Map();
  let bytes = cache.get(format);
  if (!bytes) cache.set(format, bytes = encode(message));
  return bytes;
}

/** Approximate retained size, for byte-bounded histories. */
export const messageBytes = (m: BusMessage): number => m.payload.length + m.channel.length + 96;
