import assert from "node:assert/strict";
import { backoffDelay } from "./backoff.ts";

Deno.test("client - backoff doubles, stays within jitter bounds and the cap", () => {
  const o = { initial: 100, max: 5000, jitter: 0.3 };
  for (const r of [0, 0.5, 0.999]) {
    const delays = Array.from(
      { length: 10 },
      (_, i) => backoffDelay(i, { ...o, random: () => r }),
    );
    delays.forEach((d, i) => {
      const base = Math.min(5000, 100 * 2 ** i);
      assert.ok(
        d >= base * 0.7 - 1 && d <= Math.min(5000, base * 1.3 + 1),
        `attempt ${i}: ${d}`,
      );
    });
  }
  assert.equal(backoffDelay(3, { ...o, random: () => 0.5 }), 800);
  assert.equal(backoffDelay(60, { ...o, random: () => 1 }), 5000);
});
