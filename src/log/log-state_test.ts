import assert from "node:assert/strict";
import { findLosses, type LogState } from "./log-state.ts";
import { emptySegment, type SegmentInfo } from "./segment.ts";

const seg = (firstSeq: number, lastSeq: number): SegmentInfo => ({
  ...emptySegment(`/${firstSeq}.seg`, firstSeq),
  firstSeq,
  lastSeq,
  records: lastSeq - firstSeq + 1,
});
const state = (firstSeq: number, highWater: number, accepted: [number, number][] = []) =>
  ({ firstSeq, highWater, accepted }) as LogState;
const ranges = (segments: SegmentInfo[], s?: LogState) =>
  findLosses(segments, s).map((l) => [l.where, l.fromSeq, l.toSeq]);

Deno.test("log state - losses: a hole between segments, a lost head, a tail below the high-water mark", () => {
  assert.deepEqual(ranges([seg(1, 10), seg(11, 20), emptySegment("/21.seg", 21)]), []);
  assert.deepEqual(ranges([seg(1, 10), seg(21, 30)]), [["middle", 11, 20]]);
  assert.deepEqual(ranges([seg(11, 20)], state(1, 20)), [["head", 1, 10]]);
  assert.deepEqual(ranges([seg(1, 10), emptySegment("/11.seg", 11)], state(1, 15)), [
    ["tail", 11, 15],
  ]);
  // An emptied log: the segment the state expects, and nothing in it.
  assert.deepEqual(ranges([emptySegment("/1.seg", 1)], state(1, 5)), [["tail", 1, 5]]);
  // Retention moved the first sequence on: no loss. Accepted ranges are not losses either.
  assert.deepEqual(ranges([seg(11, 20)], state(11, 20)), []);
  assert.deepEqual(ranges([seg(1, 10), seg(21, 30)], state(1, 30, [[11, 20]])), []);
  // Without a state (a log from before it existed) only holes can be seen.
  assert.deepEqual(ranges([seg(11, 20)]), []);
});
