import { concat } from "../../../client/shared/bytes.ts";
import { crc32c } from "../../log/crc32c.ts";

/**
 * RCPX frames (rstmdb's wire format), all big-endian:
 *
 *   magic "RCPX" | version:u16 = 1 | flags:u16 | header_len:u16 | payload_len:u32 | crc32c:u32
 *   then header_len bytes of extension block (skipped), then the UTF-8 JSON payload.
 *
 * Pure: bytes in, frames or problems out. Once the 18-byte header is read the frame's end is
 * known, so every problem after that point is reported and the frame skipped; only a bad magic
 * loses the frame boundary, and that one is fatal.
 */
export const MAGIC = new Uint8Array([0x52, 0x43, 0x50, 0x58]);
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 18;
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

export const FrameFlag = {
  CrcPresent: 1,
  /** Reserved by rstmdb; no implementation compresses, so it is refused. */
  Compressed: 2,
  Stream: 4,
  EndStream: 8,
} as const;
const KNOWN_FLAGS = 0b1111;

/** A frame with `flags` around `payload`; the server always sets CRC_PRESENT. */
export function encodeFrame(payload: Uint8Array, flags: number = FrameFlag.CrcPresent): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint16(4, PROTOCOL_VERSION);
  view.setUint16(6, flags);
  view.setUint16(8, 0);
  view.setUint32(10, payload.length);
  view.setUint32(14, flags & FrameFlag.CrcPresent ? crc32c(payload) : 0);
  out.set(payload, HEADER_BYTES);
  return out;
}

export type FrameEvent =
  | { kind: "frame"; flags: number; payload: Uint8Array }
  /** A frame that was skipped; the stream stays usable. */
  | { kind: "rejected"; code: "BAD_REQUEST" | "UNSUPPORTED_PROTOCOL"; message: string }
  /** The stream cannot be parsed any further. */
  | { kind: "fatal"; message: string };

/**
 * Incremental decoder: `push` chunks as they arrive, then `next()` until it returns undefined.
 * Pull-style so that a HELLO switching to jsonl can take the bytes after it (`rest()`).
 */
export class FrameDecoder {
  /** Contiguous bytes being parsed, from #pos. */
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;
  /**
   * Chunks not yet joined to #buf: they are joined only once a whole header or frame is there,
   * so a large frame arriving in many chunks is copied once, not once per chunk.
   */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** Bytes of an oversized frame still to throw away. */
  #discard = 0;
  #dead = false;

  push(chunk: Uint8Array): void {
    if (this.#dead) return;
    if (this.#discard) {
      const n = Math.min(this.#discard, chunk.length);
      this.#discard -= n;
      chunk = chunk.subarray(n);
    }
    if (!chunk.length) return;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
  }

  /** Unparsed bytes, handed over when the wire mode changes. */
  rest(): Uint8Array {
    this.#gather();
    const rest = this.#buf.subarray(this.#pos);
    this.#buf = new Uint8Array(0);
    this.#pos = 0;
    return rest;
  }

  next(): FrameEvent | undefined {
    if (this.#dead || !this.#have(HEADER_BYTES)) return undefined;
    const b = this.#buf;
    const pos = this.#pos;
    if (b[pos] !== 0x52 || b[pos + 1] !== 0x43 || b[pos + 2] !== 0x50 || b[pos + 3] !== 0x58) {
      this.#dead = true;
      return { kind: "fatal", message: "bad frame magic (expected RCPX); closing the connection" };
    }
    const view = new DataView(b.buffer, b.byteOffset + pos, HEADER_BYTES);
    const version = view.getUint16(4);
    const flags = view.getUint16(6);
    const extension = view.getUint16(8);
    const length = view.getUint32(10);
    const crc = view.getUint32(14);
    const total = HEADER_BYTES + extension + length;
    if (length > MAX_PAYLOAD_BYTES) {
      this.#gather();
      const here = Math.min(total, this.#buf.length - this.#pos);
      this.#discard = total - here;
      this.#pos += here;
      return reject(`payload of ${length} bytes is over the ${MAX_PAYLOAD_BYTES}-byte limit`);
    }
    if (!this.#have(total)) return undefined;
    const start = this.#pos + HEADER_BYTES + extension;
    const payload = this.#buf.slice(start, this.#pos + total);
    this.#pos += total;
    if (version !== PROTOCOL_VERSION) {
      return {
        kind: "rejected",
        code: "UNSUPPORTED_PROTOCOL",
        message:
          `frame version ${version} is not supported; this server speaks version ${PROTOCOL_VERSION}`,
      };
    }
    if (flags & ~KNOWN_FLAGS) {
      return reject(`unknown frame flags 0x${(flags & ~KNOWN_FLAGS).toString(16)}`);
    }
    if (flags & FrameFlag.Compressed) {
      return reject("compressed frames are not supported; send the payload uncompressed");
    }
    if (flags & FrameFlag.CrcPresent && crc32c(payload) !== crc) {
      return reject("payload CRC-32C does not match the header; frame dropped");
    }
    return { kind: "frame", flags, payload };
  }

  /** True when `n` bytes from #pos are available, joined into #buf. */
  #have(n: number): boolean {
    const contiguous = this.#buf.length - this.#pos;
    if (contiguous >= n) return true;
    if (contiguous + this.#pendingBytes < n) return false;
    this.#gather();
    return true;
  }

  #gather() {
    if (!this.#pending.length) return;
    const parts = [this.#buf.subarray(this.#pos), ...this.#pending];
    this.#buf = parts.length === 2 && !parts[0].length ? parts[1] : concat(parts);
    this.#pos = 0;
    this.#pending = [];
    this.#pendingBytes = 0;
  }
}

const reject = (message: string): FrameEvent => ({
  kind: "rejected",
  code: "BAD_REQUEST",
  message,
});
