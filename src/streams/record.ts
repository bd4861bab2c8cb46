import { readUtf8, writeUtf8 } from "../../client/shared/utf8.ts";
import type { BusMessage } from "../core/message.ts";

/**
 * How a message is stored as a log record. The log adds seq, time and a CRC around it; this is
 * the rest, in a compact binary form so replay does not parse JSON per record:
 *
 *   flags:u8  channelLength:u8 channel  idLength:u8 id  expiresAt:f64 (0 = never)
 *   keyLength:u16 key  headersLength:u32 headers(JSON)  payload
 *
 * flags bit 0: payload is binary. `key` is the publisher's deduplication key ("" = none).
 */
export interface StoredMessage {
  channel: string;
  id: string;
  binary: boolean;
  payload: Uint8Array;
  headers?: Record<string, string>;
  /** ms since the epoch after which the message is no longer delivered; 0 = never. */
  expiresAt: number;
  /** Deduplication key given by the publisher, "" when none. */
  key: string;
}

const decoder = new TextDecoder();

export function encodeStored(m: StoredMessage): Uint8Array {
  const headers = m.headers ? JSON.stringify(m.headers) : "";
  // Strings are written in place (room for 3 bytes per character), then the buffer is trimmed.
  const room = 1 + 1 + 1 + 8 + 2 + 4 +
    3 * (m.channel.length + m.id.length + m.key.length + headers.length);
  const out = new Uint8Array(room + m.payload.length);
  const view = new DataView(out.buffer);
  let o = 0;
  out[o++] = m.binary ? 1 : 0;
  const channelLength = writeUtf8(out, o + 1, m.channel);
  out[o] = channelLength;
  o += 1 + channelLength;
  const idLength = writeUtf8(out, o + 1, m.id);
  out[o] = idLength;
  o += 1 + idLength;
  view.setFloat64(o, m.expiresAt);
  o += 8;
  const keyLength = writeUtf8(out, o + 2, m.key);
  view.setUint16(o, keyLength);
  o += 2 + keyLength;
  const headersLength = writeUtf8(out, o + 4, headers);
  view.setUint32(o, headersLength);
  o += 4 + headersLength;
  out.set(m.payload, o);
  o += m.payload.length;
  return o === out.length ? out : out.subarray(0, o);
}

export function decodeStored(bytes: Uint8Array): StoredMessage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const binary = (bytes[o++] & 1) === 1;
  const channelLength = bytes[o++];
  const channel = readUtf8(bytes, o, o += channelLength);
  const idLength = bytes[o++];
  const id = readUtf8(bytes, o, o += idLength);
  const expiresAt = view.getFloat64(o);
  o += 8;
  const keyLength = view.getUint16(o);
  o += 2;
  const key = readUtf8(bytes, o, o += keyLength);
  const headersLength = view.getUint32(o);
  o += 4;
  const stored: StoredMessage = { channel, id, binary, expiresAt, key, payload: new Uint8Array() };
  if (headersLength) {
    stored.headers = JSON.parse(decoder.decode(bytes.subarray(o, o + headersLength)));
  }
  stored.payload = bytes.subarray(o + headersLength);
  return stored;
}

/** How an appended message (with its dedupe key) is stored. */
export const encodeAppended = (message: BusMessage, key: string | undefined): Uint8Array =>
  encodeStored({
    channel: message.channel,
    id: message.id,
    binary: message.binary,
    payload: message.payload,
    headers: message.headers,
    expiresAt: message.expiresAt ?? 0,
    key: key ?? "",
  });

/** The bus message for a stored record at (epoch, seq, time). */
export function toBusMessage(
  stored: StoredMessage,
  epoch: string,
  seq: number,
  time: number,
): BusMessage {
  const m: BusMessage = {
    channel: stored.channel,
    seq,
    epoch,
    id: stored.id,
    time,
    payload: stored.payload,
    binary: stored.binary,
  };
  if (stored.headers) m.headers = stored.headers;
  if (stored.expiresAt) m.expiresAt = stored.expiresAt;
  return m;
}
