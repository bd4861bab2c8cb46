import assert from "node:assert/strict";
import { CoalescedWriter } from "./coalesced-writer.ts";

Deno.test("requests made during a write are served by exactly one more write", async () => {
  let writes = 0;
  let release!: () => void;
  const writer = new CoalescedWriter(async () => {
    writes++;
    if (writes === 1) await new Promise<void>((r) => release = r);
  });
  const first = writer.request();
  const second = writer.request();
  const third = writer.request();
  release();
  await Promise.all([first, second, third]);
  assert.equal(writes, 2);
  await writer.request();
  assert.equal(writes, 3);
});

Deno.test("a failed write is retried by the next request", async () => {
  let fail = true;
  let writes = 0;
  const writer = new CoalescedWriter(() => {
    writes++;
    return fail ? Promise.reject(new Error("disk full")) : Promise.resolve();
  });
  await assert.rejects(writer.request(), /disk full/);
  fail = false;
  await writer.request();
  assert.equal(writes, 2);
});
