import assert from "node:assert/strict";
import { AccessTokens } from "./jwt.ts";
import type { UserRecord } from "./store.ts";

const user: UserRecord = {
  user_id: "u1",
  username: "ann",
  email: null,
  hashed_password: "",
  is_active: true,
  created_at: "",
  permissions: ["read"],
};
const SECRET = "a-secret-of-at-least-thirty-two-characters";

Deno.test("jwt: a signed token verifies (again, from memory); a tampered or foreign one does not", async () => {
  const tokens = new AccessTokens(SECRET, 60_000);
  const token = await tokens.sign(user);
  const claims = await tokens.verify(token);
  assert.equal(claims?.sub, "u1");
  assert.deepEqual(claims?.permissions, ["read"]);
  assert.equal(await tokens.verify(token), claims);
  // A signature character changed well before the last one (whose low bits base64url ignores).
  const at = token.length - 10;
  const tampered = token.slice(0, at) + (token[at] === "A" ? "B" : "A") + token.slice(at + 1);
  assert.equal(await tokens.verify(tampered), undefined);
  const other = new AccessTokens("another-secret-of-thirty-two-characters!", 60_000);
  assert.equal(await other.verify(token), undefined);
});

Deno.test("jwt: an expired token is refused; a remembered one is not used past its exp", async () => {
  const expired = new AccessTokens(SECRET, -2000);
  assert.equal(await expired.verify(await expired.sign(user)), undefined);
  const tokens = new AccessTokens(SECRET, 60_000);
  const token = await tokens.sign(user);
  const remembered = (await tokens.verify(token))!;
  remembered.exp = Math.floor(Date.now() / 1000) - 1; // as if its time were over
  const again = await tokens.verify(token);
  assert.notEqual(again, remembered, "a remembered token past its exp is verified afresh");
});
