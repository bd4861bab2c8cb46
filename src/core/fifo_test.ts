import assert from "node:assert/strict";
import { Fifo } from "./fifo.ts";

Deno.test("fifo - items leave in the order they came, across compactions", () => {
  const q = new Fifo<number>();
  let next = 0;
  // Uneven pushes and shifts, so the front is compacted at many lengths.
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 3000; i++) q.push(round * 3000 + i);
    for (let i = 0; i < 2000 + round * 20; i++) {
      assert.equal(q.first(), next);
      assert.equal(q.shift(), next++);
    }
  }
  assert.equal(q.length, 50 * 3000 - next);
  while (q.length) assert.equal(q.shift(), next++);
  assert.equal(q.shift(), undefined);
  assert.equal(q.first(), undefined);
});

Deno.test("fifo - take removes the oldest match, takeAll every match; the rest keep their order", () => {
  const q = new Fifo<number>();
  for (let i = 0; i < 5000; i++) q.push(i);
  for (let i = 0; i < 1500; i++) q.shift();
  assert.equal(q.take((n) => n % 1000 === 999), 1999);
  assert.equal(q.take((n) => n === 1500), 1500, "the first item");
  assert.equal(q.take((n) => n < 0), undefined);
  assert.deepEqual(q.takeAll((n) => n >= 4995), [4995, 4996, 4997, 4998, 4999]);
  const rest: number[] = [];
  while (q.length) rest.push(q.shift()!);
  const expected = Array.from({ length: 3494 }, (_, i) => 1501 + i).filter((n) => n !== 1999);
  assert.deepEqual(rest, expected);
});

Deno.test("fifo - iterates the live items oldest first, past compactions", () => {
  const q = new Fifo<number>();
  for (let i = 0; i < 3000; i++) q.push(i);
  for (let i = 0; i < 2000; i++) q.shift();
  assert.deepEqual([...q], Array.from({ length: 1000 }, (_, i) => 2000 + i));
});
