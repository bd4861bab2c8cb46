import assert from "node:assert/strict";
import type { SessionTransport } from "../protocol/session.ts";
import { within } from "../../test/helpers/deadline.ts";
import { type CertificateHash, WebTransportListener } from "./webtransport.ts";

const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** Opens a session pinned to `hash`, sends bytes and returns what the echo server sent back. */
async function echo(port: number, hash: CertificateHash): Promise<string> {
  const session = new WebTransport(`https://127.0.0.1:${port}/catbus`, {
    serverCertificateHashes: [{ algorithm: "sha-256", value: fromBase64(hash.value) }],
  });
  try {
    await session.ready;
    const stream = await session.createBidirectionalStream();
    await stream.writable.getWriter().write(new TextEncoder().encode("ping"));
    const { value } = await stream.readable.getReader().read();
    return new TextDecoder().decode(value);
  } finally {
    session.close();
  }
}

Deno.test("webtransport - a self-signed certificate is rotated before it expires, on the same port", async () => {
  const rotated = Promise.withResolvers<CertificateHash>();
  const listener = await WebTransportListener.start({
    hostname: "127.0.0.1",
    port: 0,
    // Valid for an hour and a half second (certificates start an hour back): rotates at once.
    validityMs: 3_600_000 + 500,
    rotateBeforeMs: 0,
    onRotate: (hash) => rotated.resolve(hash),
  }, (transport: SessionTransport) => ({
    receive: (chunk) => transport.write(chunk),
    connectionEnded: () => {},
  }));
  try {
    const first = listener.certificateHash!;
    assert.equal(await within(echo(listener.port, first), 10_000, "the first echo"), "ping");
    const second = await within(rotated.promise, 10_000, "the rotation");
    assert.notEqual(second.value, first.value);
    assert.equal(listener.certificateHash, second);
    assert.equal(await within(echo(listener.port, second), 10_000, "the echo after it"), "ping");
  } finally {
    listener.close();
  }
});
