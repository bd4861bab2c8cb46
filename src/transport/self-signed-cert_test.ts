import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { createSelfSignedCert } from "./self-signed-cert.ts";

Deno.test("self-signed cert - a valid X.509 v3 ECDSA certificate that browsers can pin", async () => {
  const now = Date.UTC(2026, 10, 28, 12);
  const made = await createSelfSignedCert(["localhost", "127.0.0.1"], 10, now);
  const x509 = new X509Certificate(made.cert);
  assert.ok(x509.verify(x509.publicKey), "signed by its own key");
  assert.equal(x509.publicKey.asymmetricKeyType, "ec");
  assert.match(x509.subjectAltName!, /DNS:localhost/);
  assert.match(x509.subjectAltName!, /IP Address:127\.0\.0\.1/);
  assert.equal(x509.ca, false);
  const days = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) /
    86_400_000;
  assert.equal(days, 10);
  assert.equal(Date.parse(x509.validTo), made.notAfter);
  assert.equal(
    createHash("sha256").update(x509.raw).digest("hex"),
    Buffer.from(made.sha256).toString("hex"),
  );
  assert.match(made.key, /^-----BEGIN PRIVATE KEY-----/);
  await assert.rejects(
    createSelfSignedCert(["localhost"], 15),
    /at most 14 days/,
  );
});
