import assert from "node:assert/strict";
import { RcpClient } from "../src/dialects/rcp/client.ts";
import { hashToken } from "../src/dialects/rcp/token-hashes.ts";
import { makeServerAndClientCerts } from "./helpers/certs.ts";
import { ORDER, startSm } from "./sm_helpers.ts";

/** A CA, a server certificate for localhost and a client certificate. */
Deno.test("sm tls - RCP over TLS and mTLS, with auth, and the CLI over TLS", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catbus-sm-tls-" });
  await makeServerAndClientCerts(dir, "client", "Catbus SM Test CA");
  const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
  await using server = await startSm([
    "--rcp-tls-cert",
    `${dir}/localhost.pem`,
    "--rcp-tls-key",
    `${dir}/localhost.key`,
    "--rcp-require-client-cert",
    "--rcp-client-ca",
    `${dir}/ca.pem`,
    "--rcp-auth-required",
    "--rcp-token-hashes",
    hashToken("secret"),
  ]);
  const port = server.rcpPort!;
  const withCert = await RcpClient.connect({
    hostname: "localhost",
    port,
    token: "secret",
    tls: {
      ca: await read("ca.pem"),
      cert: await read("client.pem"),
      key: await read("client.key"),
    },
  });
  await withCert.request("PUT_MACHINE", { machine: "order", version: 1, definition: ORDER });
  assert.deepEqual(await withCert.request("LIST_MACHINES"), {
    items: [{ machine: "order", versions: [1] }],
  });
  withCert.close();

  // mTLS: no client certificate, no connection.
  await assert.rejects(
    RcpClient.connect({
      hostname: "localhost",
      port,
      token: "secret",
      tls: { ca: await read("ca.pem") },
    }),
  );
  // The server's certificate is checked unless --insecure.
  await assert.rejects(RcpClient.connect({ hostname: "localhost", port, tls: {} }));

  const cli = await server.cli([
    "sm",
    "list-machines",
    "-s",
    `localhost:${port}`,
    "--tls",
    "--ca-cert",
    `${dir}/ca.pem`,
    "--client-cert",
    `${dir}/client.pem`,
    "--client-key",
    `${dir}/client.key`,
  ], { RSTMDB_TOKEN: "secret" });
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(cli.stdout, "  order v1 (4 states, 3 transitions)\n");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sm tls - the CLI reaches an IP address over TLS (no SNI), and -k/--insecure skips the check", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catbus-sm-tls-ip-" });
  await makeServerAndClientCerts(dir, "client", "Catbus SM Test CA");
  await using server = await startSm([
    "--rcp-tls-cert",
    `${dir}/localhost.pem`,
    "--rcp-tls-key",
    `${dir}/localhost.key`,
  ]);
  const ip = `127.0.0.1:${server.rcpPort}`;
  const verified = await server.cli([
    "sm",
    "ping",
    "-s",
    ip,
    "--tls",
    "--ca-cert",
    `${dir}/ca.pem`,
  ]);
  assert.equal(verified.code, 0, verified.stderr);
  assert.equal(verified.stdout, "PONG\n");
  for (const insecure of ["--insecure", "-k"]) {
    const out = await server.cli(["sm", "ping", "-s", ip, insecure]);
    assert.equal(out.code, 0, out.stderr);
  }
  const unverified = await server.cli(["sm", "ping", "-s", ip, "--tls"]);
  assert.equal(unverified.code, 1, "an unknown CA is refused without --insecure");
  await Deno.remove(dir, { recursive: true });
});
