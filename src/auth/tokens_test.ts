import assert from "node:assert/strict";
import { CatbusError } from "../../client/shared/errors.ts";
import { base64url, fromBase64url } from "./crypto.ts";
import { makeGrants } from "./grants.ts";
import { signSubToken, SubTokenVerifier } from "./tokens.ts";

const grants = makeGrants(["read", "write"], ["project.>"]);
const refused = async (
  verifier: SubTokenVerifier,
  token: string,
  reason: RegExp,
) => {
  await assert.rejects(verifier.verify(token), (e: unknown) => {
    assert.ok(e instanceof CatbusError);
    assert.equal(e.code, "unauthorized");
    assert.match(e.message, reason);
    return true;
  });
};

Deno.test("tokens - a signed token verifies to its client id and grants", async () => {
  const token = await signSubToken("s3cret", { clientId: "alice", grants });
  const p = await new SubTokenVerifier(["s3cret"]).verify(token);
  assert.equal(p.clientId, "alice");
  assert.deepEqual(p.grants, grants);
  assert.equal(token.split(".")[1].length, 43, "full 32-byte MAC");
});

Deno.test("tokens - forged, truncated, tampered, wrong-secret and expired tokens are refused", async () => {
  const v = new SubTokenVerifier(["s3cret"]);
  const token = await signSubToken("s3cret", { clientId: "alice", grants });
  const [body, mac] = token.split(".");
  await refused(v, token.slice(0, -1), /bad signature/);
  await refused(v, `${body}.${mac.slice(0, 22)}`, /bad signature/);
  await refused(v, body, /malformed|not a sub/);
  await refused(v, "sub-!!!.abc", /malformed/);
  // Tampered grants, same MAC.
  const claims = JSON.parse(
    new TextDecoder().decode(fromBase64url(body.slice(4))),
  );
  claims.grants.push({ permission: "write", pattern: ">" });
  const forged = "sub-" +
    base64url(new TextEncoder().encode(JSON.stringify(claims))) + "." + mac;
  await refused(v, forged, /bad signature/);
  // Signed with another secret that claims this server's key id.
  const other = await signSubToken("other", { clientId: "mallory", grants });
  await refused(v, other, /key this server does not hold/);
  const otherClaims = JSON.parse(
    new TextDecoder().decode(fromBase64url(other.split(".")[0].slice(4))),
  );
  otherClaims.kid = claims.kid;
  const otherBody = "sub-" +
    base64url(new TextEncoder().encode(JSON.stringify(otherClaims)));
  await refused(v, `${otherBody}.${other.split(".")[1]}`, /bad signature/);
  const expired = await signSubToken("s3cret", {
    clientId: "alice",
    grants,
    expiresIn: 60,
    now: Date.now() - 120_000,
  });
  await refused(v, expired, /expired/);
});

Deno.test("tokens - older secrets keep verifying during rotation", async () => {
  const old = await signSubToken("old", { clientId: "bob", grants });
  const fresh = await signSubToken("new", { clientId: "bob", grants });
  const v = new SubTokenVerifier(["new", "old"]);
  assert.equal((await v.verify(old)).clientId, "bob");
  assert.equal((await v.verify(fresh)).clientId, "bob");
});

Deno.test("tokens - crafted claims are refused as malformed, never with a runtime error", async () => {
  const v = new SubTokenVerifier(["s3cret"]);
  const unsigned = (claims: unknown) =>
    "sub-" + base64url(new TextEncoder().encode(JSON.stringify(claims))) + "." +
    base64url(new Uint8Array(32));
  for (
    const claims of [
      { v: 1, cid: "a", grants: [], iat: 0, kid: { toString: 1 } },
      { v: 1, cid: "a", grants: [], iat: 0, kid: ["x"] },
      { v: 1, cid: "a", grants: [], iat: 0, kid: null },
      [1, 2],
      "text",
    ]
  ) {
    await refused(v, unsigned(claims), /malformed/);
  }
});

Deno.test("tokens - a client id with a dot or a wildcard cannot be signed", async () => {
  for (const clientId of ["*", ">", "a.b", "", "a b"]) {
    await assert.rejects(
      signSubToken("s3cret", { clientId, grants }),
      (e: unknown) => e instanceof CatbusError && e.code === "bad_request",
      `client id "${clientId}"`,
    );
  }
  await signSubToken("s3cret", { clientId: "svc_billing-1:eu@x", grants });
});
