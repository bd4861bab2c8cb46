import assert from "node:assert/strict";
import { LoginFailures } from "./login-failures.ts";

Deno.test("pulsar login failures - a username is blocked after N failures in a minute", () => {
  const failures = new LoginFailures(3);
  for (let i = 0; i < 3; i++) {
    assert.equal(failures.blocked("bob"), false);
    failures.failed("bob");
  }
  assert.equal(failures.blocked("bob"), true);
  assert.equal(failures.blocked("alice"), false, "per username");
  assert.equal(new LoginFailures(0).blocked("bob"), false);
});
