import assert from "node:assert/strict";
import { admitAll } from "./accept-loop.ts";
import { type DoorHandler, serveHttpDoor } from "./http-server.ts";
import { WholeAnswer, wholeResponse } from "./http-response.ts";

const encoder = new TextEncoder();
const noReport = { failing() {}, recovered() {} };

/** A server answering with `handler`, and a raw client reading its bytes as text. */
async function exchange(
  handler: DoorHandler,
  request: string,
  until: (text: string) => boolean,
): Promise<string> {
  const door = serveHttpDoor(
    { hostname: "127.0.0.1", port: 0, admit: admitAll, report: noReport },
    handler,
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: door.port });
  const deadline = setTimeout(() => conn.close(), 10_000);
  try {
    await conn.write(encoder.encode(request));
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(4096);
    let text = "";
    while (!until(text)) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
    }
    return text;
  } finally {
    clearTimeout(deadline);
    conn.close();
    await door.shutdown();
  }
}

const GET = "GET / HTTP/1.1\r\nhost: x\r\n\r\n";

Deno.test("http response - an unmarked stream goes out as it is produced, whatever its content type", async () => {
  const ended = Promise.withResolvers<void>();
  const text = await exchange(
    () =>
      new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(encoder.encode("first"));
            // The stream goes on only once the client has read its first part.
            await ended.promise;
            c.close();
          },
        }),
        { headers: { "content-type": "application/octet-stream" } },
      ),
    GET,
    (t) => t.includes("first"),
  );
  ended.resolve();
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\ntransfer-encoding: chunked\r\n/);
  assert.match(text, /\r\n5\r\nfirst\r\n$/);
});

Deno.test("http response - a whole response has a Content-Length; an unmarked text body is chunked; no body is length 0", async () => {
  const whole = await exchange(
    () => wholeResponse("hello", { headers: { "content-type": "text/plain" } }),
    GET,
    (t) => t.endsWith("hello"),
  );
  assert.match(whole, /\r\ncontent-length: 5\r\n/);
  assert.doesNotMatch(whole, /transfer-encoding/);

  const unmarked = await exchange(() => new Response("hello"), GET, (t) => t.endsWith("0\r\n\r\n"));
  assert.match(unmarked, /\r\ntransfer-encoding: chunked\r\n/);
  assert.match(unmarked, /\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/);

  const none = await exchange(() => new Response(null), GET, (t) => t.endsWith("\r\n\r\n"));
  assert.match(none, /\r\ncontent-length: 0\r\n/);
});

Deno.test("http response - HTTP/1.0 gets a streamed body until the connection closes", async () => {
  const text = await exchange(
    () => new Response(new Blob(["old"]).stream()),
    "GET / HTTP/1.0\r\n\r\n",
    () => false,
  );
  assert.match(text, /\r\nconnection: close\r\n/);
  assert.doesNotMatch(text, /transfer-encoding|content-length/);
  assert.match(text, /\r\n\r\nold$/);
});

Deno.test("http response - a WholeAnswer goes out as a whole response: its fields, a Content-Length, UTF-8 text", async () => {
  const text = await exchange(
    () => new WholeAnswer(201, `{"é":1}`, { "content-type": "application/json" }),
    GET,
    (t) => t.endsWith("}"),
  );
  assert.match(text, /^HTTP\/1\.1 201 Created\r\n/);
  assert.match(text, /\r\ncontent-type: application\/json\r\n/);
  assert.match(text, /\r\ncontent-length: 8\r\n/);
  assert.doesNotMatch(text, /transfer-encoding|connection: close/);

  const closing = await exchange(
    () => new WholeAnswer(204, null, { connection: "close" }),
    GET,
    (t) => t.endsWith("\r\n\r\n"),
  );
  assert.match(closing, /^HTTP\/1\.1 204 No Content\r\n/);
  assert.match(closing, /\r\nconnection: close\r\n/);
  assert.doesNotMatch(closing, /content-length/);
});

Deno.test("http response - a WholeAnswer refuses a field value with a line break", () => {
  assert.throws(() => new WholeAnswer(200, "", { "x-a": "b\r\nx-injected: 1" }), TypeError);
});
