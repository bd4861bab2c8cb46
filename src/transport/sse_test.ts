import assert from "node:assert/strict";
import { sseFrame, SseStream } from "./sse.ts";

Deno.test("sse - frames split data into data: lines and carry id and event", () => {
  const text = new TextDecoder().decode(sseFrame({ id: "e_1", event: "msg", data: "a\nb" }));
  assert.equal(text, "id: e_1\nevent: msg\ndata: a\ndata: b\n\n");
});

Deno.test("sse - an idle stream sends a keep-alive comment, and closing ends the body", async () => {
  let closed = false;
  const stream = new SseStream({
    highWaterBytes: 1024,
    keepAliveMs: 50,
    onClose: () => closed = true,
  });
  assert.equal(stream.response.headers.get("content-type"), "text/event-stream");
  const reader = stream.response.body!.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await reader.read()).value, ": ping\n\n");
  stream.send(sseFrame({ data: "x" }));
  assert.equal((await reader.read()).value, "data: x\n\n");
  stream.close();
  assert.equal((await reader.read()).done, true);
  assert.equal(closed, true);
});
