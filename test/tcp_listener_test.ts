/**
 * The shared TCP listener (src/transport/tcp.ts) that the native TCP door and the RCP door both
 * stand on: plain, TLS, and TLS with client certificates (mTLS) through node:tls.
 */
import assert from "node:assert/strict";
import { connect as connectTls } from "node:tls";
import { admitAll } from "../src/transport/accept-loop.ts";
import {
  type Door,
  listenTcp,
  type TcpConnection,
  type TcpListenOptions,
} from "../src/transport/tcp.ts";
import { makeServerAndClientCerts } from "./helpers/certs.ts";
import { within } from "./helpers/deadline.ts";
import { AsyncQueue } from "./helpers/queue.ts";

const door: Door = {
  admit: admitAll,
  refuse: (c) => c.close(),
  report: { failing: () => {}, recovered: () => {} },
};

/** A listener that answers every chunk with "ok:<chunk>" and records who connected. */
async function echoListener(options: Partial<TcpListenOptions>) {
  const accepted = new AsyncQueue<TcpConnection>();
  const listener = await listenTcp({ hostname: "127.0.0.1", port: 0, ...options }, (c) => {
    accepted.push(c);
    return {
      receive: (chunk) => c.write(new Uint8Array([...new TextEncoder().encode("ok:"), ...chunk])),
      connectionEnded: () => {},
    };
  }, door);
  return { listener, accepted };
}

async function makeCerts() {
  const dir = await Deno.makeTempDir({ prefix: "catbus-tcp-listener-" });
  await makeServerAndClientCerts(dir, "alice");
  const read = (f: string) => Deno.readTextFileSync(`${dir}/${f}`);
  const pem = {
    ca: read("ca.pem"),
    cert: read("localhost.pem"),
    key: read("localhost.key"),
    clientCert: read("alice.pem"),
    clientKey: read("alice.key"),
  };
  await Deno.remove(dir, { recursive: true });
  return pem;
}

/** Connects with node:tls; resolves with the first bytes the server sends, rejects on error. */
function tlsRoundTrip(port: number, options: { ca: string; cert?: string; key?: string }) {
  return new Promise<string>((resolve, reject) => {
    const socket = connectTls({ host: "localhost", port, ...options }, () => socket.write("hi"));
    socket.on("data", (d: Uint8Array) => {
      resolve(new TextDecoder().decode(d));
      socket.destroy();
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error("closed before an answer")));
  });
}

Deno.test("tcp listener - plain: a connection is named by its address and has no identity", async () => {
  const { listener, accepted } = await echoListener({});
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  await conn.write(new TextEncoder().encode("hi"));
  const buf = new Uint8Array(16);
  const n = await within(conn.read(buf), 5000, "the echo");
  assert.equal(new TextDecoder().decode(buf.subarray(0, n!)), "ok:hi");
  const c = await accepted.next("the accepted connection", 5000);
  assert.equal(c.hostname, "127.0.0.1");
  assert.match(c.remote, /^tcp:127\.0\.0\.1:\d+$/);
  assert.equal(c.identity, undefined);
  conn.close();
  listener.close();
});

Deno.test("tcp listener - mTLS: only clients with a certificate from the client CA get in, named by it", async () => {
  const pem = await makeCerts();
  const { listener, accepted } = await echoListener({
    tls: { cert: pem.cert, key: pem.key, clientCa: pem.ca },
  });
  const answer = await within(
    tlsRoundTrip(listener.port, { ca: pem.ca, cert: pem.clientCert, key: pem.clientKey }),
    5000,
    "the answer to a client with a certificate",
  );
  assert.equal(answer, "ok:hi");
  const c = await accepted.next("the accepted connection", 5000);
  assert.equal(c.identity?.commonName, "alice");
  assert.match(c.identity?.fingerprint ?? "", /^[0-9a-f]{64}$/);

  await assert.rejects(
    within(tlsRoundTrip(listener.port, { ca: pem.ca }), 5000, "the refusal"),
    (e: Error) => !/not within/.test(e.message),
    "a client without a certificate is not let in",
  );
  assert.equal(accepted.size, 0, "nor handed to the door");
  listener.close();
});

Deno.test("tcp listener - TLS without a client CA asks no certificate", async () => {
  const pem = await makeCerts();
  const { listener, accepted } = await echoListener({ tls: { cert: pem.cert, key: pem.key } });
  const answer = await within(tlsRoundTrip(listener.port, { ca: pem.ca }), 5000, "the answer");
  assert.equal(answer, "ok:hi");
  assert.equal((await accepted.next("the accepted connection", 5000)).identity, undefined);
  listener.close();
});
