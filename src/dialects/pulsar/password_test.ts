import assert from "node:assert/strict";
import { hashPassword, stopPasswordWorker, verifyPassword } from "./password.ts";

// argon2-cffi's documented example, as the original (pwdlib over argon2-cffi) stores hashes.
const ORIGINAL =
  "$argon2id$v=19$m=65536,t=3,p=4$MIIRqgvgQbgj220jfp0MPA$YfwJSVjtjSU0zzV/P3S9nnQ/USre2wvJMjfCIjrTQbg";

Deno.test("pulsar password - verifies the original's argon2id PHC strings", async () => {
  assert.equal(await verifyPassword("correct horse battery staple", ORIGINAL), true);
  assert.equal(await verifyPassword("Tr0ub4dor&3", ORIGINAL), false);
  assert.equal(await verifyPassword("x", "not-a-hash"), false);
  stopPasswordWorker();
});

Deno.test("pulsar password - hashes with the original's parameters", async () => {
  const hash = await hashPassword("secret-password");
  assert.match(hash, /^\$argon2id\$v=19\$m=65536,t=3,p=4\$/);
  assert.equal(await verifyPassword("secret-password", hash), true);
  assert.equal(await verifyPassword("secret-passwore", hash), false);
  stopPasswordWorker();
});
