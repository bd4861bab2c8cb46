import assert from "node:assert/strict";
import { within } from "../../test/helpers/deadline.ts";
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
  const read = (what: string) => within(reader.read(), 5000, what);
  assert.equal((await read("the keep-alive")).value, ": ping\n\n");
  stream.send(sseFrame({ data: "x" }));
  assert.equal((await read("the event")).value, "data: x\n\n");
  stream.close();
  assert.equal((await read("the end of the body")).done, true);
  assert.equal(closed, true);
});
