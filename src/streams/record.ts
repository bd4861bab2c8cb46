import { readUtf8, utf8Length, writeUtf8 } from "../../client/shared/utf8.ts";
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
/** Scratch for an f64's big-endian bytes (encodeStored, readFloat64). */
const float = new DataView(new ArrayBuffer(8));
const floatBytes = new Uint8Array(float.buffer);

export function encodeStored(m: StoredMessage): Uint8Array {
  const headers = m.headers ? JSON.stringify(m.headers) : "";
  // Sized exactly, and written without a DataView: no object per message beyond its bytes.
  const out = new Uint8Array(
    1 + 1 + utf8Length(m.channel) + 1 + utf8Length(m.id) + 8 + 2 + utf8Length(m.key) + 4 +
      utf8Length(headers) + m.payload.length,
  );
  let o = 0;
  out[o++] = m.binary ? 1 : 0;
  const channelLength = writeUtf8(out, o + 1, m.channel);
  out[o] = channelLength;
  o += 1 + channelLength;
  const idLength = writeUtf8(out, o + 1, m.id);
  out[o] = idLength;
  o += 1 + idLength;
  float.setFloat64(0, m.expiresAt);
  out.set(floatBytes, o);
  o += 8;
  const keyLength = writeUtf8(out, o + 2, m.key);
  out[o] = keyLength >> 8;
  out[o + 1] = keyLength;
  o += 2 + keyLength;
  const headersLength = writeUtf8(out, o + 4, headers);
  out[o] = headersLength >>> 24;
  out[o + 1] = headersLength >>> 16;
  out[o + 2] = headersLength >>> 8;
  out[o + 3] = headersLength;
  o += 4 + headersLength;
  out.set(m.payload, o);
  return out;
}

/** Where a stored message's variable parts end (see locateStored); the rest follows from them. */
export const Located = { ChannelEnd: 0, IdEnd: 1, KeyEnd: 2, HeadersEnd: 3 } as const;
export const LOCATED_FIELDS = 4;
/** Fixed offsets in the layout: the channel starts at 2, expiresAt is at IdEnd. */
export const CHANNEL_START = 2;
export const idStart = (channelEnd: number) => channelEnd + 1;
const keyStart = (idEnd: number) => idEnd + 10;
export const headersStart = (keyEnd: number) => keyEnd + 4;

/**
 * Writes where the stored message `bytes`'s parts end into `out[at …]` (Located order) and
 * returns its expiresAt: the layout read without making a string or an object.
 */
export function locateStored(bytes: Uint8Array, out: Int32Array, at: number): number {
  const channelEnd = CHANNEL_START + bytes[1];
  const idEnd = idStart(channelEnd) + bytes[channelEnd];
  const keyEnd = keyStart(idEnd) + (bytes[idEnd + 8] << 8 | bytes[idEnd + 9]);
  const headersLength = (bytes[keyEnd] << 24 >>> 0) + (bytes[keyEnd + 1] << 16) +
    (bytes[keyEnd + 2] << 8) + bytes[keyEnd + 3];
  out[at + Located.ChannelEnd] = channelEnd;
  out[at + Located.IdEnd] = idEnd;
  out[at + Located.KeyEnd] = keyEnd;
  out[at + Located.HeadersEnd] = headersStart(keyEnd) + headersLength;
  return readFloat64(bytes, idEnd);
}

/** The big-endian f64 at `at`, without a DataView on `bytes`; 0 when all its bytes are. */
function readFloat64(bytes: Uint8Array, at: number): number {
  let any = 0;
  for (let i = 0; i < 8; i++) any |= bytes[at + i];
  if (!any) return 0;
  for (let i = 0; i < 8; i++) float.setUint8(i, bytes[at + i]);
  return float.getFloat64(0);
}

const located = new Int32Array(LOCATED_FIELDS);

export function decodeStored(bytes: Uint8Array): StoredMessage {
  const expiresAt = locateStored(bytes, located, 0);
  const [channelEnd, idEnd, keyEnd, headersEnd] = located;
  const stored: StoredMessage = {
    channel: readUtf8(bytes, CHANNEL_START, channelEnd),
    id: readUtf8(bytes, idStart(channelEnd), idEnd),
    binary: (bytes[0] & 1) === 1,
    expiresAt,
    key: readUtf8(bytes, keyStart(idEnd), keyEnd),
    payload: bytes.subarray(headersEnd),
  };
  const headers = headersStart(keyEnd);
  if (headersEnd > headers) {
    stored.headers = JSON.parse(decoder.decode(bytes.subarray(headers, headersEnd)));
  }
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
