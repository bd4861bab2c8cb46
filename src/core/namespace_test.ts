import assert from "node:assert/strict";
import type { BusMessage } from "./message.ts";
import { MemoryStream } from "./memory-stream.ts";
import { Namespace, type Publishing, type PublishOutcome } from "./namespace.ts";

const message = (id: string, channel = "app.x"): BusMessage => ({
  channel,
  seq: 0,
  epoch: "",
  id,
  time: 1,
  payload: new Uint8Array(),
  binary: false,
});

const ignored: PublishOutcome<unknown> = { published: () => {}, failed: () => {} };
/** `message`, appended alone, with the publish that waits for it. */
const appendOne = (ns: Namespace, message: BusMessage, outcome = ignored): Publishing => {
  const waiting: Publishing = { message, tag: message.id, outcome };
  ns.append([{ message }], [waiting]);
  return waiting;
};

/** A memory namespace whose durable messages are delivered as the hub does. */
function memoryNamespace(perChannel = 0) {
  const settled: (Publishing | undefined)[] = [];
  const ns: Namespace = new Namespace(
    "app",
    { maxMessages: 10, maxBytes: 1 << 20 },
    new MemoryStream({
      durable: (messages) => {
        for (const m of messages) {
          settled.push(ns.settle(m));
          ns.delivered(m);
        }
      },
      failed: () => {},
    }),
    { stored: false, perChannel },
  );
  return { ns, settled };
}

Deno.test("namespace - time never goes backwards, nor into the future", () => {
  const { ns } = memoryNamespace();
  assert.equal(ns.advanceTime(100, 100), true);
  assert.equal(ns.advanceTime(90, 120), false, "before the newest message");
  assert.equal(ns.advanceTime(130, 120), false, "in the future");
  assert.equal(ns.advanceTime(110, 120), true);
  assert.equal(ns.advanceTime(120, 120), true);
});

Deno.test("namespace - dedupe keys expire, are bounded, and a failed publish forgets its key", async () => {
  const { ns } = memoryNamespace();
  const first = Promise.resolve(message("a"));
  ns.rememberKey("k1", first, 1000);
  assert.equal(ns.duplicateOf("k1", 999), first);
  assert.equal(ns.duplicateOf("k1", 1000), undefined, "expired at its time");
  ns.rememberKey("k2", Promise.resolve(message("b")), 5000, 2);
  ns.rememberKey("k3", Promise.resolve(message("c")), 5000, 2);
  ns.rememberKey("k4", Promise.resolve(message("d")), 5000, 2);
  assert.equal(ns.duplicateOf("k2", 0), undefined, "the oldest key went past the bound");
  assert.ok(ns.duplicateOf("k4", 0));
  const failing = Promise.reject(new Error("disk full"));
  ns.rememberKey("k5", failing, 5000);
  await failing.catch(() => {});
  await Promise.resolve();
  assert.equal(ns.duplicateOf("k5", 0), undefined);
});

Deno.test("namespace - appends settle their own publishes, in order, and move the watermark", () => {
  const { ns, settled } = memoryNamespace();
  const a = appendOne(ns, message("a")), b = appendOne(ns, message("b"));
  assert.deepEqual(settled, [a, b]);
  assert.equal(ns.lastSeq, 2);
  assert.deepEqual(ns.fromMemory(1, 10).map((m) => m.id), ["a", "b"]);
  assert.equal(ns.inMemory(1), true);
  assert.equal(ns.firstSeq, 1);
  assert.equal(ns.settle(message("other")), undefined, "another node's message has no publish");
});

Deno.test("namespace - failing appends rejects only their publishes", async () => {
  const ns = new Namespace("app", { maxMessages: 10, maxBytes: 1 << 20 }, {
    epoch: "e",
    firstSeq: 0,
    lastSeq: 0,
    append: () => {},
    read: async function* () {},
    seekTime: () => Promise.resolve(1),
    tail: () => Promise.resolve([]),
    recentKeys: () => Promise.resolve(new Map()),
    purgeChannel: () => Promise.resolve(),
  }, { stored: true });
  const answered = Promise.withResolvers<void>();
  appendOne(ns, message("a"), { published: () => {}, failed: (_, e) => answered.reject(e) });
  const kept = appendOne(ns, message("b"));
  ns.fail(["a"], new Error("disk full"));
  await assert.rejects(answered.promise, /disk full/);
  assert.equal(ns.settle(message("b")), kept);
});

Deno.test("namespace - the per-channel limit keeps the newest of each channel", () => {
  const { ns } = memoryNamespace(1);
  appendOne(ns, message("a", "app.x"));
  appendOne(ns, message("b", "app.x"));
  appendOne(ns, message("c", "app.y"));
  assert.equal(ns.withinChannelLimit("app.x", 1), false);
  assert.equal(ns.withinChannelLimit("app.x", 2), true);
  assert.equal(ns.withinChannelLimit("app.y", 3), true);
});
