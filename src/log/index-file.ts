import { writeFileAtomic } from "./atomic-file.ts";
import type { SegmentInfo } from "./segment.ts";
import { SparseIndex } from "./sparse-index.ts";

/**
 * The sparse index of a sealed segment, saved beside it (`<segment>.idx`) so opening a large log
 * does not re-read sealed segments. It is a cache: when missing or not matching the segment's
 * size it is rebuilt from the segment.
 *
 *   f64[]: version, segmentSize, firstSeq, lastSeq, firstTime, lastTime, records, n,
 *          then n × (seq, offset, time)
 */
const VERSION = 1;
const HEAD = 8;

export async function writeIndexFile(info: SegmentInfo): Promise<void> {
  const values = new Float64Array(HEAD + info.index.length * 3);
  values.set(info.index.values(), HEAD);
  values.set([
    VERSION,
    info.size,
    info.firstSeq,
    info.lastSeq,
    info.firstTime,
    info.lastTime,
    info.records,
    info.index.length,
  ]);
  await writeFileAtomic(info.path + ".idx", new Uint8Array(values.buffer));
}

/** The saved index, or undefined when it is absent or stale. */
export async function readIndexFile(
  segmentPath: string,
  segmentSize: number,
): Promise<SegmentInfo | undefined> {
  const bytes = await Deno.readFile(segmentPath + ".idx").catch(() => undefined);
  if (!bytes || bytes.length % 8 !== 0 || bytes.length < HEAD * 8) return undefined;
  const v = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
  const n = v[7];
  if (v[0] !== VERSION || v[1] !== segmentSize || v.length !== HEAD + n * 3) return undefined;
  const base = Number(segmentPath.slice(segmentPath.lastIndexOf("/") + 1).slice(0, -4));
  return {
    path: segmentPath,
    baseSeq: base,
    size: v[1],
    firstSeq: v[2],
    lastSeq: v[3],
    firstTime: v[4],
    lastTime: v[5],
    records: v[6],
    index: SparseIndex.of(v.slice(HEAD)),
  };
}
