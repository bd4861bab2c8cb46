import { join } from "node:path";
import { parseRecord } from "./record.ts";
import { SparseIndex } from "./sparse-index.ts";

/** What a scan learned about one segment file. */
export interface SegmentInfo {
  path: string;
  /** From the file name: the first sequence the segment was opened for. */
  baseSeq: number;
  firstSeq: number;
  lastSeq: number;
  firstTime: number;
  lastTime: number;
  records: number;
  /** Bytes of valid records (the file may be longer when its tail is torn). */
  size: number;
  /** Where records start, one entry per `indexEvery` bytes. */
  index: SparseIndex;
}

export interface ScanFailure {
  offset: number;
  reason: string;
  /** True when nothing valid follows: an interrupted write, safe to cut off. */
  torn: boolean;
}

export const SEGMENT_SUFFIX = ".seg";
export const segmentName = (baseSeq: number) => String(baseSeq).padStart(20, "0") + SEGMENT_SUFFIX;
export const segmentPath = (dir: string, baseSeq: number) => join(dir, segmentName(baseSeq));

/** How far past a bad record we look for valid ones, to tell a torn tail from corruption. */
const RESYNC_WINDOW = 1024 * 1024;

/** Offset of the first valid record after `from` with seq > `afterSeq`, or -1. */
export function resync(
  bytes: Uint8Array,
  from: number,
  afterSeq: number,
  window = RESYNC_WINDOW,
): number {
  const stop = Math.min(bytes.length, from + window);
  for (let o = from + 1; o < stop; o++) {
    const r = parseRecord(bytes, o);
    if (r.kind === "record" && r.record.seq > afterSeq) return o;
  }
  return -1;
}

/**
 * Reads every record of a segment, checking each CRC and that sequence numbers increase, and
 * builds the sparse index (one entry per `indexEvery` bytes).
 */
export function scanSegment(
  bytes: Uint8Array,
  path: string,
  baseSeq: number,
  indexEvery: number,
  onRecord?: (seq: number, time: number, data: Uint8Array) => void,
): { info: SegmentInfo; failure?: ScanFailure } {
  const info = emptySegment(path, baseSeq);
  let offset = 0;
  let nextIndexAt = 0;
  while (offset < bytes.length) {
    const r = parseRecord(bytes, offset);
    let reason: string | undefined;
    if (r.kind === "bad") reason = r.reason;
    else if (r.kind === "short") reason = "incomplete record";
    else if (r.record.seq <= info.lastSeq) {
      reason = `sequence ${r.record.seq} after ${info.lastSeq}`;
    }
    if (reason || r.kind !== "record") {
      const torn = resync(bytes, offset, info.lastSeq) === -1;
      return { info, failure: { offset, reason: reason!, torn } };
    }
    const { seq, time, data } = r.record;
    if (info.records === 0) {
      info.firstSeq = seq;
      info.firstTime = time;
    }
    if (offset >= nextIndexAt) {
      info.index.push(seq, offset, time);
      nextIndexAt = offset + indexEvery;
    }
    info.lastSeq = seq;
    info.lastTime = time;
    info.records++;
    onRecord?.(seq, time, data);
    offset = r.end;
    info.size = offset;
  }
  return { info };
}

/** Facts of a segment with no records yet. */
export function emptySegment(path: string, baseSeq: number): SegmentInfo {
  return {
    path,
    baseSeq,
    firstSeq: 0,
    lastSeq: baseSeq - 1,
    firstTime: 0,
    lastTime: 0,
    records: 0,
    size: 0,
    index: new SparseIndex(),
  };
}
