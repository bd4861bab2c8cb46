import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file.ts";
import type { SegmentInfo } from "./segment.ts";

/**
 * What a log remembers beside its segments, so lost records are told apart from retention: the
 * first sequence retention kept, the highest sequence ever written, and the ranges an operator
 * accepted as lost (`catbus repair`). Saved atomically at segment rolls, retention, close and
 * about once a second while appending, so after a crash `highWater` may lag the log a little:
 * it can miss a loss of the newest second, never report one that did not happen.
 */
export interface LogState {
  firstSeq: number;
  highWater: number;
  accepted: [number, number][];
}

/** A range of records that was in the log and is not any more. */
export interface LogLoss {
  fromSeq: number;
  toSeq: number;
  /** `head`/`tail`: the log starts above or ends below what it held; `middle`: a hole. */
  where: "head" | "middle" | "tail";
  reason: string;
}

const FILE = "log-state.json";

/** The saved state, or undefined when there is none (a log from before it existed) or it is unreadable. */
export async function readLogState(dir: string): Promise<LogState | undefined> {
  try {
    const s = JSON.parse(await Deno.readTextFile(join(dir, FILE)));
    if (typeof s.firstSeq !== "number" || typeof s.highWater !== "number") return undefined;
    return { firstSeq: s.firstSeq, highWater: s.highWater, accepted: s.accepted ?? [] };
  } catch {
    // A guard, not data: without it losses are not detected, nothing else changes.
    return undefined;
  }
}

/**
 * Saves the state atomically; `sync: false` skips the fsyncs (a lost or empty file after a
 * machine crash only means a loss may go unseen, never one reported that did not happen).
 */
export const writeLogState = (
  dir: string,
  state: LogState,
  options: { sync?: boolean } = {},
): Promise<void> =>
  writeFileAtomic(
    join(dir, FILE),
    new TextEncoder().encode(JSON.stringify(state) + "\n"),
    options,
  );

/** First sequence `seg` holds or would hold (an empty segment starts at its name's sequence). */
const startOf = (seg: SegmentInfo) => seg.records ? seg.firstSeq : seg.baseSeq;

/**
 * The ranges missing from `segments` (oldest first, the last one active) given the saved state:
 * a head the state says was kept, holes between segments (a deleted file, a cut record), a tail
 * below the high-water mark. Ranges the state accepts are not losses.
 */
export function findLosses(segments: SegmentInfo[], state: LogState | undefined): LogLoss[] {
  const losses: LogLoss[] = [];
  const add = (fromSeq: number, toSeq: number, where: LogLoss["where"], reason: string) => {
    const accepted = state?.accepted.some(([a, b]) => a <= fromSeq && toSeq <= b);
    if (toSeq >= fromSeq && !accepted) losses.push({ fromSeq, toSeq, where, reason });
  };
  let expected = state ? state.firstSeq : startOf(segments[0]);
  for (const [i, seg] of segments.entries()) {
    const start = startOf(seg);
    add(
      expected,
      start - 1,
      i === 0 ? "head" : "middle",
      i === 0 ? `the log now starts at ${start}` : `missing before ${seg.path}`,
    );
    expected = Math.max(expected, seg.lastSeq + 1);
  }
  if (state) add(expected, state.highWater, "tail", `the log now ends at ${expected - 1}`);
  return losses;
}
