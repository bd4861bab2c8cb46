import assert from "node:assert/strict";
import * as jose from "jose";
import { CatbusError } from "../../client/shared/errors.ts";
import { mintToken } from "../../client/tokens.ts";
import { base64url } from "./crypto.ts";
import { makeGrants } from "./grants.ts";
import { keyId, signSubToken, SubTokenVerifier } from "./tokens.ts";

const grants = makeGrants(["read", "write"], ["project.>"]);
const secret = new TextEncoder().encode("s3cret");
const refused = async (
  verifier: SubTokenVerifier,
  token: string,
  reason: RegExp,
  code = "unauthorized",
) => {
  await assert.rejects(verifier.verify(token), (e: unknown) => {
    assert.ok(e instanceof CatbusError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, reason);
    return true;
  });
};

/** A JWT as any backend's library makes it: here plain jose, no Catbus code. */
const plainJwt = (header: jose.JWTHeaderParameters = { alg: "HS256" }) =>
  new jose.SignJWT({ grants }).setProtectedHeader(header).setSubject("alice")
    .setIssuedAt().setExpirationTime("1h");

Deno.test("tokens - catbus grant's token is sub- plus a standard HS256 JWT naming its secret", async () => {
  const token = await signSubToken("s3cret", { clientId: "alice", grants, expiresIn: 60 });
  assert.ok(token.startsWith("sub-"));
  const jwt = token.slice(4);
  assert.deepEqual(jose.decodeProtectedHeader(jwt), {
    alg: "HS256",
    typ: "JWT",
    kid: await keyId("s3cret"),
  });
  const { payload } = await jose.jwtVerify(jwt, secret);
  assert.equal(payload.sub, "alice");
  assert.deepEqual(payload.grants, grants);
  const p = await new SubTokenVerifier(["s3cret"]).verify(token);
  assert.deepEqual(p, {
    clientId: "alice",
    kind: "sub",
    grants,
    expiresAt: payload.exp,
    issuedAt: payload.iat,
  });
});

Deno.test("tokens - a JWT minted with plain jose verifies, with or without the sub- prefix", async () => {
  const v = new SubTokenVerifier(["s3cret"]);
  const jwt = await plainJwt().sign(secret);
  assert.equal((await v.verify(jwt)).clientId, "alice");
  assert.equal((await v.verify(`sub-${jwt}`)).clientId, "alice");
  const minted = await mintToken({ clientId: "bob", grants, expiresIn: 60 }, "s3cret");
  assert.deepEqual((await v.verify(minted)).grants, grants);
});

Deno.test("tokens - tampered, wrong-secret, expired, not-yet-valid and unsigned tokens are refused", async () => {
  const v = new SubTokenVerifier(["s3cret"]);
  const jwt = await plainJwt().sign(secret);
  const [header, body, mac] = jwt.split(".");
  const flipped = (mac[0] === "A" ? "B" : "A") + mac.slice(1);
  await refused(v, `${header}.${body}.${flipped}`, /bad signature/);
  await refused(v, `${header}.${body}.${mac.slice(0, -2)}`, /malformed|bad signature/);
  const widened = { ...jose.decodeJwt(jwt), grants: [{ permission: "all", pattern: ">" }] };
  const tampered = base64url(new TextEncoder().encode(JSON.stringify(widened)));
  await refused(v, `${header}.${tampered}.${mac}`, /bad signature/);
  await refused(v, await plainJwt().sign(new TextEncoder().encode("other")), /bad signature/);
  const otherKid = await plainJwt({ alg: "HS256", kid: "nope" }).sign(secret);
  await refused(v, otherKid, /key this server does not hold/);
  await refused(
    v,
    await plainJwt().setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(secret),
    /expired/,
  );
  await refused(v, await plainJwt().setNotBefore("1h").sign(secret), /not valid yet/);
  const none = `${base64url(new TextEncoder().encode('{"alg":"none"}'))}.${body}.`;
  await refused(v, none, /algorithm "none" is not accepted/);
  await refused(v, "sub-!!!.abc", /not a JWT/);
  // The earlier format (one dot): refused with what to do.
  await refused(v, "sub-eyJ2IjoxfQ.AAAA", /earlier sub- format/);
});

Deno.test("tokens - older secrets keep verifying during rotation, by kid or by trying each", async () => {
  const old = await signSubToken("old", { clientId: "bob", grants });
  const fresh = await signSubToken("new", { clientId: "bob", grants });
  const v = new SubTokenVerifier(["new", "old"]);
  assert.equal((await v.verify(old)).clientId, "bob");
  assert.equal((await v.verify(fresh)).clientId, "bob");
  const noKid = await plainJwt().sign(new TextEncoder().encode("old"));
  assert.equal((await v.verify(noKid)).clientId, "alice");
});

for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
  Deno.test(`tokens - ${alg} tokens verify with the configured public key; HS256 with that key does not`, async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    const pem = await jose.exportSPKI(publicKey);
    const v = new SubTokenVerifier({ secrets: ["s3cret"], publicKey: pem });
    const token = await new jose.SignJWT({ grants }).setProtectedHeader({ alg })
      .setSubject("carol").setExpirationTime("5m").sign(privateKey);
    assert.equal((await v.verify(token)).clientId, "carol");
    // Algorithm confusion: the public key as an HMAC secret.
    const confused = await plainJwt().sign(new TextEncoder().encode(pem));
    await refused(v, confused, /bad signature/);
    const stranger = (await jose.generateKeyPair(alg)).privateKey;
    const forged = await new jose.SignJWT({ grants }).setProtectedHeader({ alg })
      .setSubject("carol").sign(stranger);
    await refused(v, forged, /bad signature/);
    await refused(new SubTokenVerifier(["s3cret"]), token, /need --jwt-public-key or --jwks-url/);
  });
}

Deno.test("tokens - a JWKS URL's keys verify tokens by kid; an unknown kid is refused", async () => {
  const { publicKey, privateKey } = await jose.generateKeyPair("ES256", { extractable: true });
  const jwk = { ...await jose.exportJWK(publicKey), kid: "k1", alg: "ES256" };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ keys: [jwk] }),
  );
  try {
    const v = new SubTokenVerifier({
      secrets: ["s3cret"],
      jwksUrl: `http://127.0.0.1:${server.addr.port}/jwks.json`,
    });
    const sign = (kid: string) =>
      new jose.SignJWT({ grants }).setProtectedHeader({ alg: "ES256", kid }).setSubject("dave")
        .sign(privateKey);
    assert.equal((await v.verify(await sign("k1"))).clientId, "dave");
    await refused(v, await sign("k2"), /key this server does not hold/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("tokens - aud and iss are required when the server is configured with them", async () => {
  const v = new SubTokenVerifier({ secrets: ["s3cret"], audience: "catbus", issuer: "app" });
  await refused(v, await plainJwt().setIssuer("app").sign(secret), /aud/);
  await refused(v, await plainJwt().setAudience("catbus").setIssuer("evil").sign(secret), /iss/);
  const ok = await plainJwt().setAudience("catbus").setIssuer("app").sign(secret);
  assert.equal((await v.verify(ok)).clientId, "alice");
});

Deno.test("tokens - crafted claims are refused as malformed, never with a runtime error", async () => {
  const v = new SubTokenVerifier(["s3cret"]);
  const sign = (claims: jose.JWTPayload) =>
    new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(secret);
  for (
    const claims of [
      { sub: "a", grants: "all" },
      { sub: "a", grants: [{ permission: "fly", pattern: ">" }] },
      { sub: "a", grants: [null] },
      { grants: [] },
      { sub: "a.b", grants: [] },
      { sub: ">", grants: [] },
      { sub: { toString: 1 }, grants: [] },
    ]
  ) {
    await refused(v, await sign(claims as jose.JWTPayload), /malformed/);
  }
  const bad = `${base64url(new TextEncoder().encode("{not json"))}.e30.AAAA`;
  await refused(v, bad, /malformed/);
});

Deno.test("tokens - a client id with a dot or a wildcard cannot be signed", async () => {
  for (const clientId of ["*", ">", "a.b", "", "a b"]) {
    await assert.rejects(
      signSubToken("s3cret", { clientId, grants }),
      (e: unknown) => e instanceof CatbusError && e.code === "bad_request",
      `client id "${clientId}"`,
    );
    await assert.rejects(mintToken({ clientId, grants }, "s3cret"), TypeError);
  }
  await signSubToken("s3cret", { clientId: "svc_billing-1:eu@x", grants });
});
