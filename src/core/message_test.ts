import assert from "node:assert/strict";
import { type BusMessage, encodedOnce, forgetEncodings } from "./message.ts";

const message = (seq: number): BusMessage => ({
  channel: "app.x",
  seq,
  epoch: "e",
  id: `id-${seq}`,
  time: 1000,
  payload: new Uint8Array([1, 2, 3]),
  binary: true,
});

Deno.test("encodedOnce - a fan-out encodes a message once per format, whatever the subscribers", () => {
  const m = message(1);
  const calls: string[] = [];
  const encoder = (format: string) => (x: BusMessage) => {
    calls.push(`${format}:${x.seq}`);
    return new TextEncoder().encode(`${format}:${x.seq}`);
  };
  const native = encoder("native"), sse = encoder("sse");
  const first = encodedOnce(m, "native", native);
  assert.equal(encodedOnce(m, "native", native), first, "the same bytes for the next subscriber");
  encodedOnce(m, "sse", sse);
  encodedOnce(m, "sse", sse);
  assert.equal(encodedOnce(m, "native", native), first);
  assert.deepEqual(calls, ["native:1", "sse:1"]);
  const next = message(2);
  assert.equal(new TextDecoder().decode(encodedOnce(next, "native", native)), "native:2");
  assert.deepEqual(calls, ["native:1", "sse:1", "native:2"]);
});

Deno.test("encodedOnce - the message keeps no encodings (history holds messages, the GC copies them)", () => {
  const m = message(3);
  const keys = Object.keys(m);
  encodedOnce(m, "native", () => new Uint8Array(64));
  assert.deepEqual(Object.keys(m), keys);
});

Deno.test("encodedOnce - after a fan-out ends, the same message is encoded afresh", () => {
  const m = message(4);
  let calls = 0;
  const encode = () => new Uint8Array(++calls);
  encodedOnce(m, "native", encode);
  forgetEncodings();
  m.seq = 5; // e.g. sent again once it has its position
  assert.equal(encodedOnce(m, "native", encode).length, 2, "not the bytes of before");
});
