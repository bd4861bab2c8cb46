import assert from "node:assert/strict";
import { RateLimit } from "./rate-limits.ts";
import { HttpError } from "./http.ts";

Deno.test("rate limit: a minute's budget, then 429 with Retry-After; keys are apart; 0 is off", () => {
  const limit = new RateLimit(3, "messages");
  limit.take("a", 2);
  limit.take("a");
  assert.throws(() => limit.take("a"), (e: unknown) => {
    assert.ok(e instanceof HttpError);
    assert.equal(e.status, 429);
    assert.match(String((e.body as { detail: string }).detail), /at most 3 messages per minute/);
    assert.ok(Number(e.headers["retry-after"]) >= 1);
    return true;
  });
  limit.take("b", 3);
  const off = new RateLimit(0, "requests");
  for (let i = 0; i < 1000; i++) off.take("a");
});
