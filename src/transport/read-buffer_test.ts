import assert from "node:assert/strict";
import { ReadBuffer } from "./read-buffer.ts";

Deno.test("read buffer - small while idle, a pooled large one from a full read to the burst's end", () => {
  const a = new ReadBuffer();
  const idle = a.next;
  assert.ok(idle.length <= 1024);
  a.read(idle.length - 1);
  assert.equal(a.next, idle, "a read that did not fill the buffer keeps it");
  a.read(idle.length);
  const burst = a.next;
  assert.ok(burst.length >= 64 * 1024);
  a.read(burst.length);
  assert.equal(a.next, burst, "the burst goes on while reads fill the buffer");
  a.read(1);
  assert.equal(a.next, idle, "back to the small buffer once a read does not fill it");
  // The large buffer went back to the pool: the next connection to burst reads into it.
  const b = new ReadBuffer();
  b.read(b.next.length);
  assert.equal(b.next, burst);
  b.release();
  assert.equal(b.next.length, idle.length);
});

Deno.test("read buffer - a connection expecting requests past the idle read gets a larger idle read from its next read on", () => {
  const a = new ReadBuffer();
  const idle = a.next;
  a.expect(idle.length);
  a.read(1);
  assert.equal(a.next, idle, "requests that fit keep the small buffer");
  a.expect(idle.length + 1);
  assert.equal(a.next, idle, "the pending read keeps its buffer");
  a.read(1);
  const roomy = a.next;
  assert.ok(roomy.length > idle.length && roomy.length <= 4096);
  a.read(roomy.length);
  assert.ok(a.next.length >= 64 * 1024, "a read that fills it still bursts");
  a.read(1);
  assert.equal(a.next, roomy, "and comes back to the larger idle read");
});
