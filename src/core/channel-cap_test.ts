import assert from "node:assert/strict";
import { ChannelCap } from "./channel-cap.ts";
import type { BusMessage } from "./message.ts";

/** A cap whose trims are recorded; `kept(channel)` is what a reader of the channel would see. */
function capped(max: number) {
  const trims: [string, number][] = [];
  const seqs = new Map<string, number[]>();
  const cap = new ChannelCap(max, (channel, through) => trims.push([channel, through]));
  let seq = 0;
  const publish = (channel: string) => {
    seqs.set(channel, [...seqs.get(channel) ?? [], ++seq]);
    cap.delivered(channel, seq);
  };
  const kept = (channel: string) => {
    const through = trims.filter(([c]) => c === channel).at(-1)?.[1] ?? 0;
    return (seqs.get(channel) ?? []).filter((s) => s > through);
  };
  return { cap, trims, publish, kept };
}

const message = (channel: string, seq: number) => ({ channel, seq }) as BusMessage;

Deno.test("channel cap - a small cap is exact: every message past it trims the oldest", async () => {
  const { cap, publish, kept, trims } = capped(5);
  await cap.countStored((async function* () {})());
  for (let i = 0; i < 12; i++) publish("t.a");
  publish("t.b");
  assert.deepEqual(kept("t.a"), [8, 9, 10, 11, 12]);
  assert.deepEqual(kept("t.b"), [13]);
  assert.equal(trims.length, 7);
});

Deno.test("channel cap - a large cap trims in steps of 1%, keeping between max and max + step - 1", async () => {
  const { cap, publish, kept, trims } = capped(1000);
  await cap.countStored((async function* () {})());
  for (let i = 0; i < 5000; i++) {
    publish(i % 3 ? "t.busy" : "t.quiet");
    const n = kept("t.busy").length;
    assert.ok(n <= 1009, `kept ${n}`);
    if (i > 3000) assert.ok(n >= 1000, `kept ${n}`);
  }
  assert.equal(trims.length, 233 + 66, "one trim per 10 messages past the cap");
  assert.equal(kept("t.quiet").length, 1000 + (1667 - 1000) % 10);
});

Deno.test("channel cap - stored messages count first, live ones heard meanwhile once", async () => {
  const { cap, trims } = capped(3);
  const stored = Promise.withResolvers<void>();
  const counting = cap.countStored((async function* () {
    yield [message("t.a", 1), message("t.a", 2)];
    await stored.promise;
    yield [message("t.a", 3)]; // the reader reached what was delivered meanwhile
  })());
  cap.delivered("t.a", 3);
  cap.delivered("t.a", 4);
  assert.deepEqual(trims, [], "nothing trims while stored messages are counted");
  stored.resolve();
  await counting;
  assert.deepEqual(trims, [["t.a", 1]], "four messages, seq 3 counted once");
});

Deno.test("channel cap - a purge through the newest message starts the channel's count again", async () => {
  const { cap, trims } = capped(2);
  await cap.countStored((async function* () {})());
  cap.delivered("t.a", 1);
  cap.delivered("t.a", 2);
  cap.purged("t.a", 2); // the topic was deleted
  cap.delivered("t.a", 3);
  cap.delivered("t.a", 4);
  assert.deepEqual(trims, []);
  cap.purged("t.a", 3); // an older purge (another node's trim) leaves the count
  cap.delivered("t.a", 5);
  assert.deepEqual(trims, [["t.a", 3]]);
});
