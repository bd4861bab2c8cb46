import assert from "node:assert/strict";
import { exceedsJsonDepth } from "./json-depth.ts";

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

Deno.test("json depth - counts arrays and objects, as text or bytes", () => {
  assert.equal(exceedsJsonDepth(nested(3), 3), false);
  assert.equal(exceedsJsonDepth(nested(4), 3), true);
  assert.equal(exceedsJsonDepth('{"a":{"b":[1]}}', 3), false);
  assert.equal(exceedsJsonDepth('{"a":{"b":[{}]}}', 3), true);
  assert.equal(exceedsJsonDepth(new TextEncoder().encode(nested(4)), 3), true);
  assert.equal(exceedsJsonDepth("[1],[2],[3]", 1), false, "siblings do not add up");
});

Deno.test("json depth - brackets inside strings do not count, escaped quotes do not end them", () => {
  assert.equal(exceedsJsonDepth(`["[[[[", "\\"[[[[", "é{{{{"]`, 1), false);
  assert.equal(exceedsJsonDepth(new TextEncoder().encode(`{"k\\\\":[["é"]]}`), 2), true);
});

Deno.test("json depth - a million levels are scanned without recursion", () => {
  assert.equal(exceedsJsonDepth(nested(1_000_000), 128), true);
  assert.equal(exceedsJsonDepth(nested(1_000_000), 2_000_000), false);
});
