import assert from "node:assert/strict";
import { countDigits, isCount, writeCount } from "./decimal.ts";

Deno.test("decimal - writes counts as `${n}` does, past 2^31 and up to the largest safe integer", () => {
  const values = [
    0,
    7,
    10,
    99,
    100,
    0x7fff_ffff,
    0x8000_0000,
    10_000_000_000,
    1_733_300_000_123,
    100_000_000_000_000,
    Number.MAX_SAFE_INTEGER,
  ];
  for (const n of values) {
    const out = new Uint8Array(countDigits(n) + 2);
    assert.equal(writeCount(out, 1, n), 1 + String(n).length, `${n}: the offset after it`);
    assert.equal(new TextDecoder().decode(out.subarray(1, -1)), String(n));
  }
  assert.deepEqual([-1, 1.5, NaN, 2 ** 53].map(isCount), [false, false, false, false]);
});
