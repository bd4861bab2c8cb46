import assert from "node:assert/strict";
import { Broker, type Subscriber } from "../core/broker.ts";
import type { StoredRecords } from "../core/stored-records.ts";
import { LogRecords } from "./log-records.ts";
import { decodeStored, encodeStored, toBusMessage } from "./record.ts";
import { StreamStore } from "./stream-store.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("log records - positions, expiry, headers and channels are read without decoding a message", () => {
  const stored = [
    { channel: "app.a", headers: { "reply-to": "_inbox.1" }, expiresAt: 5 },
    { channel: "app.a", expiresAt: 0 },
    { channel: "app.b", expiresAt: 0 },
    { channel: "app.a", expiresAt: 2 ** 50 + 0.5 },
  ].map((m, i) => ({
    seq: 10 + i,
    time: 100 + i,
    data: encodeStored({ id: `i${i}`, binary: false, payload: text(`[${i}]`), key: "", ...m }),
  }));
  const records = new LogRecords(stored, "ep");
  assert.equal(records.length, 4);
  assert.deepEqual(
    Array.from({ length: 4 }, (_, i) => [
      records.seq(i),
      records.time(i),
      records.expiresAt(i),
      records.hasHeaders(i),
      records.payloadBytes(i),
    ]),
    [[10, 100, 5, true, 3], [11, 101, 0, false, 3], [12, 102, 0, false, 3], [
      13,
      103,
      2 ** 50 + 0.5,
      false,
      3,
    ]],
  );
  const a = records.channel(0);
  assert.equal(a, "app.a");
  assert.equal(records.channel(2), "app.b");
  assert.equal(records.channel(3), "app.a");
  for (let i = 0; i < 4; i++) {
    const r = stored[i];
    assert.deepEqual(records.message(i), toBusMessage(decodeStored(r.data), "ep", r.seq, r.time));
  }
});

/** A subscriber taking stored runs two records at a time, and full after every third run. */
function slowStoredSubscriber() {
  const got: string[] = [];
  let runs = 0;
  const sub: Subscriber = {
    deliver: (m) => got.push(`${m.channel}#${m.seq}`),
    deliverStored: (records: StoredRecords, picks, from, to) => {
      const end = Math.min(to, from + 2);
      for (let k = from; k < end; k++) {
        got.push(`${records.channel(picks[k])}#${records.seq(picks[k])}`);
      }
      runs++;
      return end;
    },
    ready: () => runs % 3 ? undefined : Promise.resolve(),
  };
  return { sub, got, runs: () => runs };
}

Deno.test("log records - a replay from the log copies by pattern, without expired messages or those past the per-channel limit, paced by the subscriber", async () => {
  const dir = await Deno.makeTempDir();
  const storage = new StreamStore(dir, { fsync: { kind: "never" }, segmentBytes: 4096 });
  const broker = new Broker({
    history: { maxMessages: 5, maxBytes: 1 << 20 },
    storage,
    maxPerChannel: 30,
  });
  try {
    await broker.createNamespace("app");
    for (let i = 1; i <= 120; i++) {
      const channel = ["app.a.x", "app.b.x", "app.a.y"][i % 3];
      await broker.publish({ channel, payload: text(`${i}`), expiresAt: i % 7 ? 0 : 1 });
    }
    // The same replay through plain deliveries (as messages) is what the copy must match.
    const plain: string[] = [];
    await broker.subscribe({ deliver: (m) => plain.push(`${m.channel}#${m.seq}`) }, "app.a.*", {
      from: "first",
    });
    const s = slowStoredSubscriber();
    const result = await broker.subscribe(s.sub, "app.a.*", { from: "first" });
    const expected = Array.from({ length: 120 }, (_, i) => i + 1)
      .filter((i) => i % 3 !== 1 && i % 7 && i > 120 - 90)
      .map((i) => `${["app.a.x", "app.b.x", "app.a.y"][i % 3]}#${i}`);
    assert.deepEqual(plain, expected);
    assert.deepEqual(s.got, expected);
    assert.ok(s.runs() > 20, "copied in runs, up to the history");
    assert.equal(result.namespaces.app.replayed, expected.length);
    assert.equal(result.namespaces.app.recovered, true);
  } finally {
    await storage.close();
    await Deno.remove(dir, { recursive: true });
  }
});
