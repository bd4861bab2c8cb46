import assert from "node:assert/strict";
import { SparseIndex } from "./sparse-index.ts";

Deno.test("sparse index - finds the entry at or before a seq, and the last one before a time", () => {
  const index = new SparseIndex();
  assert.equal(index.floorBySeq(5), undefined);
  assert.equal(index.lastOffset, -Infinity);
  // Entries every 4 KiB; seqs 1, 11, 21, …; times 1000, 1010, …, 1500 twice (entries 50, 51).
  for (let i = 0; i < 100; i++) index.push(1 + i * 10, i * 4096, 1000 + (i === 51 ? 500 : i * 10));
  assert.equal(index.length, 100);
  assert.equal(index.lastOffset, 99 * 4096);
  assert.equal(index.floorBySeq(0), undefined);
  assert.equal(index.floorBySeq(1), 0);
  assert.equal(index.floorBySeq(25), 2 * 4096);
  assert.equal(index.floorBySeq(10_000), 99 * 4096);
  assert.equal(index.floorByTime(1000), undefined, "nothing before the first time");
  assert.equal(index.floorByTime(1025), 2 * 4096);
  assert.equal(index.floorByTime(1500), 49 * 4096, "before the (repeated) time, not at it");
});

Deno.test("sparse index - its values round-trip (the index file), and an index read back still grows", () => {
  const index = new SparseIndex();
  for (let i = 0; i < 40; i++) index.push(i, i * 100, 2 * i);
  const back = SparseIndex.of(index.values().slice());
  assert.deepEqual(back.values(), index.values());
  assert.equal(back.floorBySeq(17), 1700);
  back.push(40, 4000, 80);
  assert.equal(back.floorBySeq(41), 4000);
  const empty = SparseIndex.of(new Float64Array(0));
  empty.push(1, 0, 1);
  assert.equal(empty.floorBySeq(1), 0);
});
