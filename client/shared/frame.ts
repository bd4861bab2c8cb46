import { decodeValidUtf8, utf8, writeAscii } from "./utf8.ts";

/**
 * The native Catbus frame codec: pure bytes in, typed frames out. Shared by server and client,
 * by every byte-stream transport (TCP, WebTransport streams) and by WebSocket, where one
 * WebSocket message carries one or more whole frames.
 *
 *   frame = length:u32be type:u8 flags:u8 id:u32be metaLength:u32be meta data
 *
 * `length` counts the bytes after itself (so it is 10 + metaLength + data length). `meta` is a
 * UTF-8 JSON object (or empty); `data` is the payload: UTF-8 JSON text, or raw bytes when
 * `flags & Flag.Binary`. See docs/protocol.md.
 */
export const FrameType = {
  Hello: 1,
  Welcome: 2,
  Subscribe: 3,
  Unsubscribe: 4,
  Publish: 5,
  Ok: 6,
  Error: 7,
  Message: 8,
  Ping: 9,
  Pong: 10,
  Notice: 11,
  ConsumerCreate: 12,
  ConsumerDelete: 13,
  ConsumerList: 14,
  Consume: 15,
  Stop: 16,
  Ack: 17,
  /** A new token for the open connection (before the current one expires). */
  Refresh: 18,
  /** The last messages of a channel: message frames carrying the request id, then ok. */
  History: 19,
  /** The members present on a channel. */
  Presence: 20,
} as const;
export type FrameType = typeof FrameType[keyof typeof FrameType];

export const Flag = { Binary: 1 } as const;

/** Bytes of a frame before `meta`: length, type, flags, id, metaLength. */
export const HEADER_BYTES = 14;

export interface Frame {
  type: number;
  flags: number;
  /** Request id; answers echo it; server-initiated frames use 0. */
  id: number;
  meta: Uint8Array;
  data: Uint8Array;
}

const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

/**
 * Encodes one frame. `meta` may be an object (JSON-encoded here), JSON text, or pre-encoded
 * bytes.
 */
export function encodeFrame(
  type: number,
  id: number,
  meta?: unknown,
  data: Uint8Array = EMPTY,
  flags = 0,
): Uint8Array {
  if (meta !== undefined && !(meta instanceof Uint8Array)) {
    // Encode the JSON straight into the frame: one allocation, no intermediate bytes.
    // A string is taken as JSON text already built by the caller.
    const json = typeof meta === "string" ? meta : JSON.stringify(meta);
    // Assume ASCII (nearly always true) and size the frame exactly; re-encode otherwise.
    const out = new Uint8Array(HEADER_BYTES + json.length + data.length);
    if (writeAscii(out, HEADER_BYTES, json)) {
      writeHeader(out, type, flags, id, json.length);
      out.set(data, HEADER_BYTES + json.length);
      return out;
    }
    return encodeFrame(type, id, utf8(json), data, flags);
  }
  const metaBytes = meta ?? EMPTY;
  const out = new Uint8Array(HEADER_BYTES + metaBytes.length + data.length);
  writeHeader(out, type, flags, id, metaBytes.length);
  out.set(metaBytes, HEADER_BYTES);
  out.set(data, HEADER_BYTES + metaBytes.length);
  return out;
}

/** Writes the header of a frame that fills `out` and has `metaLength` bytes of meta. */
export function writeHeader(
  out: Uint8Array,
  type: number,
  flags: number,
  id: number,
  metaLength: number,
) {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(0, out.length - 4);
  out[4] = type;
  out[5] = flags;
  view.setUint32(6, id >>> 0);
  view.setUint32(10, metaLength);
}

/**
 * Parses a frame's meta JSON; throws SyntaxError/TypeError on anything but an object (invalid
 * UTF-8 included: a replacement character would slip into channels).
 */
export function parseMeta<T = Record<string, unknown>>(frame: Frame): T {
  if (frame.meta.length === 0) return {} as T;
  const text = decodeValidUtf8(frame.meta);
  if (text === undefined) throw new TypeError("frame meta is not valid UTF-8");
  const value = JSON.parse(text);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError("frame meta must be a JSON object");
  }
  return value as T;
}

export type DecodeEvent =
  | { kind: "frame"; frame: Frame }
  /** A frame larger than the limit was skipped whole; the stream is still in sync. */
  | { kind: "oversize"; type: number; id: number; length: number }
  /** The stream cannot be parsed any more (absurd length, or meta longer than the frame). */
  | { kind: "corrupt"; reason: string };

export interface FrameDecoderOptions {
  /** Frames longer than this (bytes after the length field) are skipped and reported. */
  maxFrameBytes: number;
  /**
   * Lengths above this are taken as garbage rather than a big frame: skipping them would hang
   * the connection (e.g. "GET " read as a length is 1.2 GB).
   */
  maxSkipBytes?: number;
}

/**
 * Incremental decoder: feed chunks of any size (one byte at a time works), receive events.
 * Complete frames inside one chunk are returned as views on that chunk, without copying, so
 * callers must not reuse chunk buffers they pass in. A frame split over chunks is gathered in a
 * buffer that grows by doubling up to the frame's size: each byte is copied about twice at most,
 * however small the chunks (a slow trickle must not cost a copy of everything so far per chunk),
 * and the buffer never holds much more than what has arrived.
 */
export class FrameDecoder {
  /** The start of a frame that has not fully arrived: `#partial[0, #partialLength)`. */
  #partial: Uint8Array = EMPTY;
  #partialLength = 0;
  #skip = 0;
  #corrupt = false;
  #copied = 0;
  readonly #max: number;
  readonly #maxSkip: number;

  constructor(options: FrameDecoderOptions) {
    this.#max = options.maxFrameBytes;
    this.#maxSkip = options.maxSkipBytes ??
      Math.max(64 * 1024 * 1024, options.maxFrameBytes * 4);
  }

  /** Bytes copied into partial frames so far (for tests: it stays linear in the input). */
  get copiedBytes(): number {
    return this.#copied;
  }

  push(chunk: Uint8Array, emit: (event: DecodeEvent) => void): void {
    if (this.#corrupt) return;
    chunk = this.#skipped(chunk);
    if (this.#partialLength > 0) {
      chunk = chunk.subarray(this.#fill(chunk));
      if (this.#partialLength < this.#wanted()) return;
      const whole = this.#partial.subarray(0, this.#partialLength);
      this.#partial = EMPTY;
      this.#partialLength = 0;
      this.#decode(whole, emit);
      if (this.#corrupt) return;
      chunk = this.#skipped(chunk);
    }
    const off = this.#decode(chunk, emit);
    // Copy the remainder: it may be a view on a caller's chunk that will be reused.
    if (!this.#corrupt && off < chunk.length) this.#fill(chunk.subarray(off));
  }

  /** Drops the bytes still owed to an oversize frame being skipped. */
  #skipped(chunk: Uint8Array): Uint8Array {
    if (this.#skip === 0) return chunk;
    const n = Math.min(this.#skip, chunk.length);
    this.#skip -= n;
    return chunk.subarray(n);
  }

  /**
   * Bytes the partial frame needs before it can be decoded: its header, then (for a frame
   * within the limit) the whole frame; an oversize or garbage header is decoded at once.
   */
  #wanted(): number {
    if (this.#partialLength < HEADER_BYTES) return HEADER_BYTES;
    const length = new DataView(this.#partial.buffer, this.#partial.byteOffset)
      .getUint32(0);
    return length >= HEADER_BYTES - 4 && length <= this.#max ? 4 + length : HEADER_BYTES;
  }

  /** Appends what the partial frame still needs from `chunk`; returns how much it took. */
  #fill(chunk: Uint8Array): number {
    let taken = 0;
    for (;;) {
      const wanted = this.#wanted();
      const n = Math.min(wanted - this.#partialLength, chunk.length - taken);
      if (n <= 0) return taken;
      if (this.#partialLength + n > this.#partial.length) {
        const grown = new Uint8Array(
          Math.min(
            wanted,
            Math.max(2 * this.#partial.length, this.#partialLength + n, 256),
          ),
        );
        grown.set(this.#partial.subarray(0, this.#partialLength));
        this.#copied += this.#partialLength;
        this.#partial = grown;
      }
      this.#partial.set(chunk.subarray(taken, taken + n), this.#partialLength);
      this.#copied += n;
      this.#partialLength += n;
      taken += n;
    }
  }

  /** Emits the frames complete in `buf`; returns where the incomplete rest starts. */
  #decode(buf: Uint8Array, emit: (event: DecodeEvent) => void): number {
    let off = 0;
    while (buf.length - off >= HEADER_BYTES) {
      const view = new DataView(buf.buffer, buf.byteOffset + off);
      const length = view.getUint32(0);
      const type = buf[off + 4];
      const id = view.getUint32(6);
      if (length < HEADER_BYTES - 4 || length > this.#maxSkip) {
        this.#fail(emit, `invalid frame length ${length}`);
        return buf.length;
      }
      if (length > this.#max) {
        const available = buf.length - off - 4;
        if (available >= length) off += 4 + length;
        else {
          this.#skip = length - available;
          off = buf.length;
        }
        emit({ kind: "oversize", type, id, length });
        continue;
      }
      if (buf.length - off - 4 < length) break;
      const metaLength = view.getUint32(10);
      if (metaLength > length - (HEADER_BYTES - 4)) {
        this.#fail(
          emit,
          `meta length ${metaLength} exceeds frame length ${length}`,
        );
        return buf.length;
      }
      const metaStart = off + HEADER_BYTES;
      const end = off + 4 + length;
      emit({
        kind: "frame",
        frame: {
          type,
          flags: buf[off + 5],
          id,
          meta: buf.subarray(metaStart, metaStart + metaLength),
          data: buf.subarray(metaStart + metaLength, end),
        },
      });
      off = end;
    }
    return off;
  }

  #fail(emit: (event: DecodeEvent) => void, reason: string) {
    this.#corrupt = true;
    this.#partial = EMPTY;
    this.#partialLength = 0;
    emit({ kind: "corrupt", reason });
  }
}

export const decodeText = (bytes: Uint8Array): string => decoder.decode(bytes);
export const encodeText = utf8;
