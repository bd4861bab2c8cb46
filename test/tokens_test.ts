/**
 * Tokens minted outside Catbus: plain jose code, as any app backend's JWT library would, against a
 * real catbusd configured with its secret or a public key.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as jose from "jose";
import { CatbusError } from "../client/mod.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { nativeClient } from "./helpers/native.ts";

const grants = [{ permission: "all", pattern: "app.>" }];

async function roundTrip(client: Awaited<ReturnType<typeof nativeClient>>) {
  const seen = new Promise((resolve) => client.subscribe("app.x", (_c, p) => resolve(p)));
  await client.publish("app.x", "hello");
  assert.equal(await seen, "hello");
}

Deno.test("tokens e2e - an HS256 JWT minted with plain jose and the server's --secret connects", async () => {
  await using server = await startCatbusd(["--secret", "backend-shared-secret"]);
  const jwt = await new jose.SignJWT({ grants }).setProtectedHeader({ alg: "HS256" })
    .setSubject("backend-user-1").setExpirationTime("10m")
    .sign(new TextEncoder().encode("backend-shared-secret"));
  const client = await nativeClient(server, jwt);
  assert.equal(client.id, "backend-user-1");
  await roundTrip(client);
  await client.disconnect();
});

Deno.test("tokens e2e - an EdDSA JWT verifies with --jwt-public-key; a key file that is not a public key stops start-up", async () => {
  const { publicKey, privateKey } = await jose.generateKeyPair("EdDSA", { extractable: true });
  const dir = await Deno.makeTempDir({ prefix: "catbus-jwt-key-" });
  try {
    const pem = join(dir, "public.pem");
    await Deno.writeTextFile(pem, await jose.exportSPKI(publicKey));
    await using server = await startCatbusd(["--jwt-public-key", pem, "--jwt-audience", "catbus"]);
    const sign = (aud: string) =>
      new jose.SignJWT({ grants }).setProtectedHeader({ alg: "EdDSA" }).setSubject("svc-1")
        .setAudience(aud).setExpirationTime("10m").sign(privateKey);
    const client = await nativeClient(server, await sign("catbus"));
    await roundTrip(client);
    await client.disconnect();
    await assert.rejects(
      nativeClient(server, await sign("elsewhere")),
      (e: unknown) =>
        e instanceof CatbusError && e.code === "unauthorized" && /aud/.test(e.message),
    );

    const notKey = join(dir, "private.pem");
    await Deno.writeTextFile(notKey, await jose.exportPKCS8(privateKey));
    await assert.rejects(
      startCatbusd(["--jwt-public-key", notKey]),
      /is not a PEM public key/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
