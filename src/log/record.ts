import { crc32c } from "./crc32c.ts";

/**
 * One record on disk:
 *
 *   bodyLength:u32  crc:u32  body = seqHigh:u32 seqLow:u32 time:f64 data
 *
 * big-endian; `crc` is CRC-32C of the body. Sequence numbers use 64 bits on disk (safe integers
 * in memory).
 */
export const RECORD_HEADER = 8;
export const BODY_FIXED = 16;
/** Larger bodies are taken as corruption, not as a record. */
export const MAX_BODY = 256 * 1024 * 1024;

export interface LogRecord {
  seq: number;
  time: number;
  data: Uint8Array;
}

export function recordSize(dataLength: number): number {
  return RECORD_HEADER + BODY_FIXED + dataLength;
}

/**
 * Writes the record at `offset` of `out` (which must have room); returns the next offset.
 * A batch of records passes one `view` of `out` for all of them.
 */
export function writeRecord(
  out: Uint8Array,
  offset: number,
  r: LogRecord,
  view = new DataView(out.buffer, out.byteOffset, out.byteLength),
): number {
  const body = offset + RECORD_HEADER;
  view.setUint32(offset, BODY_FIXED + r.data.length);
  view.setUint32(body, Math.floor(r.seq / 0x1_0000_0000));
  view.setUint32(body + 4, r.seq >>> 0);
  view.setFloat64(body + 8, r.time);
  out.set(r.data, body + BODY_FIXED);
  const end = body + BODY_FIXED + r.data.length;
  view.setUint32(offset + 4, crc32c(out, body, end));
  return end;
}

export type ParseResult =
  | { kind: "record"; record: LogRecord; end: number }
  /** Not enough bytes for the whole record: end of data, or a torn write. */
  | { kind: "short" }
  | { kind: "bad"; reason: string };

/** Parses the record at `offset`. `data` is a view on `bytes` (no copy). */
export function parseRecord(bytes: Uint8Array, offset: number): ParseResult {
  if (bytes.length - offset < RECORD_HEADER) return { kind: "short" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(offset);
  if (length < BODY_FIXED || length > MAX_BODY) {
    return { kind: "bad", reason: `implausible record length ${length}` };
  }
  const body = offset + RECORD_HEADER;
  const end = body + length;
  if (end > bytes.length) return { kind: "short" };
  if (crc32c(bytes, body, end) !== view.getUint32(offset + 4)) {
    return { kind: "bad", reason: "CRC mismatch" };
  }
  return {
    kind: "record",
    record: {
      seq: view.getUint32(body) * 0x1_0000_0000 + view.getUint32(body + 4),
      time: view.getFloat64(body + 8),
      data: bytes.subarray(body + BODY_FIXED, end),
    },
    end,
  };
}
