import assert from "node:assert/strict";
import { IncomingRequest } from "./http-request.ts";

const signal = new AbortController().signal;
const encoder = new TextEncoder();

Deno.test("incoming request - reads as a WHATWG Request does: fields, method, URL, body once", async () => {
  const request = new IncomingRequest("http://x/a/../b?q=1", {
    method: "post",
    headers: [["accept", "a"], ["content-type", "text/plain"], ["accept", "b"]],
    body: encoder.encode("hi"),
    signal,
  });
  assert.equal(request.method, "POST");
  assert.equal(request.url, "http://x/b?q=1");
  assert.equal(request.headers.get("Accept"), "a, b");
  assert.equal(request.headers.get("x-none"), null);
  assert.equal(request.signal, signal);
  assert.equal(new TextDecoder().decode(await request.bytes()), "hi");
  await assert.rejects(() => request.bytes(), TypeError);

  const twin = new IncomingRequest("http://x/a", {
    method: "POST",
    headers: [["accept", "a"], ["accept", "b"]],
    body: encoder.encode("hi"),
    signal,
  }).toRequest();
  assert.equal(twin.headers.get("accept"), "a, b");
  assert.equal(await twin.text(), "hi");
});

Deno.test("incoming request - a streamed body, none, and what a Request refuses", async () => {
  const streamed = new IncomingRequest("http://x/", {
    method: "PUT",
    headers: [],
    body: new Blob(["a", "b"]).stream(),
    signal,
  });
  assert.equal(new TextDecoder().decode(await streamed.bytes()), "ab");
  const none = new IncomingRequest("http://x/", { method: "GET", headers: [], signal });
  assert.equal(none.body, null);
  assert.equal((await none.bytes()).length, 0);
  assert.throws(() => new IncomingRequest("http://x/", { method: "TRACE", headers: [], signal }));
  assert.throws(() => new IncomingRequest("http://a b/", { method: "GET", headers: [], signal }));
});
