import { concat } from "../../client/shared/bytes.ts";
import { writeFileAtomic } from "./atomic-file.ts";
import { findLosses, type LogLoss, readLogState, writeLogState } from "./log-state.ts";
import { parseRecord } from "./record.ts";
import { resync, scanSegment, SEGMENT_SUFFIX, type SegmentInfo, segmentPath } from "./segment.ts";

export interface VerifyReport {
  segments: Omit<SegmentInfo, "index">[];
  errors: { file: string; offset: number; reason: string; torn: boolean }[];
  /** Records the log held and no longer does (deleted segments, a cut tail). */
  losses: LogLoss[];
}

async function segmentBases(dir: string): Promise<number[]> {
  const bases: number[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(SEGMENT_SUFFIX)) bases.push(Number(e.name.slice(0, -4)));
  }
  return bases.sort((a, b) => a - b);
}

/** Reads every record of every segment and checks its CRC and order (a full scan). */
export async function verifyLog(dir: string): Promise<VerifyReport> {
  const report: VerifyReport = { segments: [], errors: [], losses: [] };
  const infos = await scanAll(
    dir,
    (path, failure) => report.errors.push({ file: path, ...failure }),
  );
  report.segments = infos.map(({ index: _index, ...facts }) => facts);
  if (infos.length) report.losses = findLosses(infos, await readLogState(dir));
  return report;
}

async function scanAll(
  dir: string,
  onFailure: (path: string, failure: { offset: number; reason: string; torn: boolean }) => void,
): Promise<SegmentInfo[]> {
  const infos: SegmentInfo[] = [];
  for (const base of await segmentBases(dir)) {
    const path = segmentPath(dir, base);
    const { info, failure } = scanSegment(await Deno.readFile(path), path, base, Infinity);
    infos.push(info);
    if (failure) onFailure(path, failure);
  }
  return infos;
}

export interface RepairReport {
  /** Valid records kept, over all segments. */
  kept: number;
  /** Damaged byte ranges moved to `<segment>.corrupt` files. */
  setAside: { file: string; corruptFile: string; from: number; to: number }[];
  /** Missing records now accepted as lost, so the log opens again. */
  accepted: LogLoss[];
}

/**
 * Salvages a damaged log: in each segment, keeps every valid record (re-synchronising past
 * damage to find the records after it) and moves the damaged bytes into `<segment>.corrupt`
 * beside it, so nothing is silently dropped. The segment is rewritten atomically. Records
 * missing altogether (a deleted segment, a cut tail) are recorded as accepted losses.
 */
export async function repairLog(dir: string): Promise<RepairReport> {
  const report: RepairReport = { kept: 0, setAside: [], accepted: [] };
  for (const base of await segmentBases(dir)) {
    const path = segmentPath(dir, base);
    const bytes = await Deno.readFile(path);
    const keep: Uint8Array[] = [];
    const damaged: Uint8Array[] = [];
    let offset = 0;
    let lastSeq = base - 1;
    while (offset < bytes.length) {
      const r = parseRecord(bytes, offset);
      if (r.kind === "record" && r.record.seq > lastSeq) {
        keep.push(bytes.subarray(offset, r.end));
        lastSeq = r.record.seq;
        report.kept++;
        offset = r.end;
        continue;
      }
      const next = resync(bytes, offset, lastSeq, Infinity);
      const to = next === -1 ? bytes.length : next;
      damaged.push(bytes.subarray(offset, to));
      report.setAside.push({ file: path, corruptFile: `${path}.corrupt`, from: offset, to });
      offset = to;
    }
    if (!damaged.length) continue;
    await Deno.writeFile(`${path}.corrupt`, concat(damaged), { append: true });
    // The index describes the old contents: it goes first, and is rebuilt at the next open.
    await Deno.remove(`${path}.idx`).catch(() => {});
    await writeFileAtomic(path, concat(keep));
  }
  const state = await readLogState(dir);
  const infos = await scanAll(dir, () => {});
  if (state && infos.length) {
    report.accepted = findLosses(infos, state);
    if (report.accepted.length) {
      state.accepted.push(...report.accepted.map((l) => [l.fromSeq, l.toSeq] as [number, number]));
      await writeLogState(dir, state);
    }
  }
  return report;
}
