import assert from "node:assert/strict";
import { Broker } from "./broker.ts";
import { channelHistory } from "./channel-history.ts";

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** A memory-only namespace of `count` messages: every third on `app.b`, the others on `app.a`. */
async function filled(count: number, maxMessages = 1000) {
  const broker = new Broker({ history: { maxMessages, maxBytes: 1 << 20 } });
  const ns = await broker.createNamespace("app");
  for (let i = 1; i <= count; i++) {
    await broker.publish({
      channel: i % 3 === 0 ? "app.b" : "app.a",
      payload: json(i),
    });
  }
  return ns;
}

Deno.test("channel history - the newest messages of a channel, oldest first, paged with next", async () => {
  const ns = await filled(300);
  const page = await channelHistory(ns, {
    pattern: "app.b",
    limit: 4,
    maxScan: 10_000,
  });
  assert.deepEqual(page.messages.map((m) => m.seq), [291, 294, 297, 300]);
  assert.equal(page.next, 291);
  const older = await channelHistory(ns, {
    pattern: "app.b",
    limit: 4,
    before: page.next,
    maxScan: 10_000,
  });
  assert.deepEqual(older.messages.map((m) => m.seq), [279, 282, 285, 288]);
  const all = await channelHistory(ns, {
    pattern: "app.>",
    limit: 1000,
    maxScan: 10_000,
  });
  assert.equal(all.messages.length, 300);
  assert.equal(all.next, undefined, "the start was reached");
});

Deno.test("channel history - a page stops after maxScan sequences and says where to go on", async () => {
  const ns = await filled(300);
  const page = await channelHistory(ns, {
    pattern: "app.b",
    limit: 100,
    maxScan: 30,
  });
  assert.deepEqual(page.messages.map((m) => m.seq), [
    273,
    276,
    279,
    282,
    285,
    288,
    291,
    294,
    297,
    300,
  ]);
  assert.equal(page.next, 271);
  const rest = await channelHistory(ns, {
    pattern: "app.b",
    limit: 100,
    before: page.next,
    maxScan: 30,
  });
  assert.equal(rest.messages[rest.messages.length - 1].seq, 270);
});

Deno.test("channel history - a memory-only namespace answers from what its history still holds", async () => {
  const ns = await filled(300, 50);
  const page = await channelHistory(ns, {
    pattern: "app.a",
    limit: 1000,
    maxScan: 10_000,
  });
  assert.equal(page.messages[0].seq, 251);
  assert.equal(page.messages.length, 33, "50 held, 17 of them on app.b");
  assert.equal(page.next, undefined);
});
