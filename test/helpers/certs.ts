/** Test certificates made with openssl: a CA and leaves signed by it (all X.509 v3, ECDSA). */
import assert from "node:assert/strict";

async function openssl(...args: string[]) {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** `dir/ca.pem` and `dir/ca.key`: a CA valid for a day. */
export async function makeCA(dir: string, name = "Catbus Test CA"): Promise<void> {
  await openssl(
    "req",
    "-x509",
    ...EC,
    "-days",
    "1",
    "-subj",
    `/CN=${name}`,
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.pem`,
  );
}

/**
 * `dir/<name>.pem` and `dir/<name>.key`, signed by the CA in `dir`, with `extensions` in
 * openssl's extfile syntax (e.g. "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").
 */
export async function makeLeaf(dir: string, name: string, extensions: string): Promise<void> {
  await openssl(
    "req",
    ...EC,
    "-subj",
    `/CN=${name}`,
    "-keyout",
    `${dir}/${name}.key`,
    "-out",
    `${dir}/${name}.csr`,
  );
  await Deno.writeTextFile(`${dir}/${name}.cnf`, extensions);
  await openssl(
    "x509",
    "-req",
    "-in",
    `${dir}/${name}.csr`,
    "-CA",
    `${dir}/ca.pem`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    `${dir}/${name}.cnf`,
    "-out",
    `${dir}/${name}.pem`,
  );
}

/** Extensions of a server certificate for localhost and 127.0.0.1. */
const SERVER_CERT =
  "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";

/** Extensions of a client certificate (mTLS). */
const CLIENT_CERT =
  "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n";

/** A CA, a server certificate `localhost.pem` and a client certificate `<client>.pem` in `dir`. */
export async function makeServerAndClientCerts(
  dir: string,
  client: string,
  caName?: string,
): Promise<void> {
  await makeCA(dir, caName);
  await makeLeaf(dir, "localhost", SERVER_CERT);
  await makeLeaf(dir, client, CLIENT_CERT);
}
