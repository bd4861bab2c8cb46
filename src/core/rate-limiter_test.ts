import assert from "node:assert/strict";
import { RateLimiter } from "./rate-limiter.ts";

Deno.test("rate limiter - a burst up to the rate, then the rate per second", () => {
  const limiter = new RateLimiter(10, 0);
  const burst = Array.from({ length: 12 }, () => limiter.take(0));
  assert.equal(burst.filter(Boolean).length, 10);
  assert.equal(limiter.take(50), false, "half a token after 50 ms");
  assert.equal(limiter.take(100), true, "one token after 100 ms");
  assert.equal(Array.from({ length: 20 }, () => limiter.take(10_000)).filter(Boolean).length, 10);
});
