import assert from "node:assert/strict";
import { IdGenerator, timeOfId } from "./ids.ts";

Deno.test("ids - 20 characters that sort in generation order and carry their time", () => {
  const ids = new IdGenerator();
  const made = [1000, 1000, 1000, 1001, 999, 5000].map((t) => ids.next(t));
  for (const id of made) assert.match(id, /^[0-9A-HJKMNP-TV-Z]{20}$/);
  assert.deepEqual([...made].sort(), made, "sorted as made, even when the clock went back");
  assert.deepEqual(made.map(timeOfId), [1000, 1000, 1000, 1001, 1001, 5000]);
});

Deno.test("ids - ids of one millisecond cannot be derived from each other: their tails are random", () => {
  const ids = new IdGenerator();
  const tails = new Set<string>();
  for (let i = 0; i < 200; i++) tails.add(ids.next(42).slice(-5));
  // A counter and a fixed tag would give one tail; 25 random bits give ~200.
  assert.ok(tails.size > 190, `only ${tails.size} distinct tails in 200 ids`);
});

Deno.test("ids - past 32768 ids in one millisecond they stay sorted", () => {
  const ids = new IdGenerator();
  let last = "";
  for (let i = 0; i < 40_000; i++) {
    const id = ids.next(7);
    assert.ok(id > last, `id ${i} sorts after the one before`);
    last = id;
  }
});
