/**
 * The stream-engine contract: what the hub may rely on from any engine — the local log now, shared
 * engines later. Every test runs through a Broker (the hub) with a two-message history, so reads
 * and replays reach into the engine rather than the hub's memory.
 */
import assert from "node:assert/strict";
import { Broker, type Subscriber } from "../../src/core/broker.ts";
import type { BusMessage } from "../../src/core/message.ts";
import type { StreamEngine } from "../../src/core/stream-engine.ts";
import { within } from "../helpers/deadline.ts";

export interface EngineUnderTest {
  engine: StreamEngine;
  /** Another engine over the same data, as after a crash of the first (left open, not closed). */
  crashed?(): Promise<StreamEngine>;
  /** Makes the engine lose records it held (a deleted file, a flushed database); see crashed. */
  loseRecords?(namespace: string): Promise<void>;
  /** Closes every engine this made and removes its data. */
  dispose(): Promise<void>;
}

export interface EngineOptions {
  /** Retention: keep about this many newest messages per namespace (0 = all). */
  retainMessages?: number;
}

type MakeEngine = (options: EngineOptions) => Promise<EngineUnderTest>;

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const text = (m: BusMessage) => new TextDecoder().decode(m.payload);
const hub = (engine: StreamEngine) =>
  new Broker({ history: { maxMessages: 2, maxBytes: 1 << 20 }, storage: engine });

async function publishN(b: Broker, n: number, channel = "ns.x"): Promise<BusMessage[]> {
  const out: BusMessage[] = [];
  for (let i = 0; i < n; i++) out.push(await b.publish({ channel, payload: json(out.length) }));
  return out;
}

async function readAll(b: Broker, fromSeq: number): Promise<number[]> {
  return (await readMessages(b, fromSeq)).map((m) => m.seq);
}

async function readMessages(b: Broker, fromSeq: number): Promise<BusMessage[]> {
  const out: BusMessage[] = [];
  for await (const batch of b.read(b.namespace("ns")!, fromSeq)) out.push(...batch);
  return out;
}

/** Channel and payload of each message read from `fromSeq` on: `a0 b1 …` as in `mixed`. */
const readTags = async (b: Broker, fromSeq = 1) =>
  (await readMessages(b, fromSeq)).map((m) => `${m.channel.slice(3)}${text(m)}`);

/** ns.a and ns.b interleaved, ns.a first and last (the front and the hub's memory): seq 1…6. */
async function mixed(b: Broker): Promise<BusMessage[]> {
  const out: BusMessage[] = [];
  for (const channel of ["a", "a", "b", "a", "b", "a"]) {
    out.push(await b.publish({ channel: `ns.${channel}`, payload: json(out.length) }));
  }
  return out;
}

/** Subscribes to `pattern` with these start options; the replayed seqs and whether recovered. */
async function replayed(b: Broker, pattern: string, start: Parameters<Broker["subscribe"]>[2]) {
  const seqs: number[] = [];
  const r = await b.subscribe({ deliver: (m) => seqs.push(m.seq) }, pattern, start);
  return { seqs, recovered: r.recovered };
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Runs the contract against the engines `makeEngine` makes; `name` starts every test name. */
export function runStreamEngineContract(name: string, makeEngine: MakeEngine): void {
  const test = (behaviour: string, fn: (make: MakeEngine) => Promise<void>) =>
    Deno.test(`stream engine ${name} - ${behaviour}`, () => fn(makeEngine));

  test("appends get contiguous positions in one epoch, in publish order", async (make) => {
    const e = await make({});
    try {
      const b = hub(e.engine);
      await b.createNamespace("ns");
      const concurrent = await Promise.all(
        range(1, 5).map((i) => b.publish({ channel: "ns.x", payload: json(i) })),
      );
      assert.deepEqual(concurrent.map((m) => m.seq), range(1, 5));
      assert.deepEqual(concurrent.map(text), range(1, 5).map(String));
      assert.equal(new Set(concurrent.map((m) => m.epoch)).size, 1);
      assert.deepEqual(b.namespace("ns")!.position, { epoch: concurrent[0].epoch, seq: 5 });
    } finally {
      await e.dispose();
    }
  });

  test("reads from any position, and resumes from any position", async (make) => {
    const e = await make({});
    try {
      const b = hub(e.engine);
      await b.createNamespace("ns");
      const sent = await publishN(b, 10);
      for (const from of [1, 4, 9, 10]) assert.deepEqual(await readAll(b, from), range(from, 10));
      assert.deepEqual(await readAll(b, 11), []);
      for (const after of [0, 3, 9]) {
        const got: number[] = [];
        const r = await b.subscribe({ deliver: (m) => got.push(m.seq) }, "ns.>", {
          resume: { ns: { epoch: sent[0].epoch, seq: after } },
        });
        assert.equal(r.recovered, true);
        assert.deepEqual(got, range(after + 1, 10));
      }
    } finally {
      await e.dispose();
    }
  });

  test("a replay then live delivery has no gap and no repeat", async (make) => {
    const e = await make({});
    try {
      const b = hub(e.engine);
      await b.createNamespace("ns");
      await publishN(b, 20);
      const got: number[] = [];
      let unread = 0;
      let wake: (() => void) | undefined;
      const sub: Subscriber = {
        deliver: (m) => {
          got.push(m.seq);
          unread++;
        },
        // Full after every 3 messages: the replay waits, and live messages come meanwhile.
        ready: () => unread < 3 ? undefined : new Promise<void>((r) => wake = r),
      };
      let subscribed = false;
      const subscribing = b.subscribe(sub, "ns.>", { from: "first" }).then(() => subscribed = true);
      const live: Promise<BusMessage>[] = [];
      for (let turn = 0; !subscribed && turn < 1000; turn++) {
        await new Promise((r) => setTimeout(r, 0));
        if (!wake) continue;
        live.push(b.publish({ channel: "ns.x", payload: json(turn) }));
        unread = 0;
        const read = wake;
        wake = undefined;
        read();
      }
      await within(subscribing, 10_000, "the replay to end");
      await Promise.all(live);
      assert.ok(live.length > 0, "live messages were published while the replay waited");
      await b.publish({ channel: "ns.x", payload: json("after") });
      assert.deepEqual(got, range(1, 21 + live.length));
    } finally {
      await e.dispose();
    }
  });

  test("an expired message is neither read nor replayed", async (make) => {
    const e = await make({});
    try {
      const b = hub(e.engine);
      await b.createNamespace("ns");
      await b.publish({ channel: "ns.x", payload: json(1), expiresAt: Date.now() - 1 });
      await b.publish({ channel: "ns.x", payload: json(2), expiresAt: Date.now() + 60_000 });
      await publishN(b, 3);
      assert.deepEqual(await readAll(b, 1), [2, 3, 4, 5]);
      const got: number[] = [];
      await b.subscribe({ deliver: (m) => got.push(m.seq) }, "ns.>", { from: "first" });
      assert.deepEqual(got, [2, 3, 4, 5]);
    } finally {
      await e.dispose();
    }
  });

  test("retention drops the oldest messages; positions go on and an old resume is not recovered", async (make) => {
    const e = await make({ retainMessages: 5 });
    try {
      const b = hub(e.engine);
      await b.createNamespace("ns");
      const sent = await publishN(b, 40);
      await e.engine.applyRetention();
      const ns = b.namespace("ns")!;
      assert.ok(ns.firstSeq > 1 && ns.firstSeq <= 36, `first kept: ${ns.firstSeq}`);
      assert.deepEqual(await readAll(b, 1), range(ns.firstSeq, 40));
      const r = await b.subscribe({ deliver: () => {} }, "ns.>", {
        resume: { ns: { epoch: sent[0].epoch, seq: 1 } },
      });
      assert.equal(r.recovered, false);
      assert.equal((await b.publish({ channel: "ns.x", payload: json(41) })).seq, 41);
    } finally {
      await e.dispose();
    }
  });

  test("a repeated dedupe key answers with the first position, after a restart too", async (make) => {
    const e = await make({});
    try {
      const b = hub(e.engine);
      await b.createNamespace("ns");
      const first = await b.publish({ channel: "ns.x", payload: json(1), key: "k" });
      await publishN(b, 2);
      const again = await b.publish({ channel: "ns.x", payload: json(2), key: "k" });
      assert.equal(again.duplicate, true);
      assert.equal(again.seq, first.seq);
      assert.deepEqual(await readAll(b, 1), [1, 2, 3]);
      if (!e.crashed) return;
      const restarted = hub(await e.crashed());
      await restarted.load();
      const later = await restarted.publish({ channel: "ns.x", payload: json(3), key: "k" });
      assert.equal(later.duplicate, true);
      assert.equal(later.seq, first.seq);
    } finally {
      await e.dispose();
    }
  });

  test("after lost records the stream is in a new epoch and a resume is not recovered", async (make) => {
    const e = await make({});
    if (!e.loseRecords || !e.crashed) return await e.dispose();
    try {
      const b = hub(e.engine);
      await b.createNamespace("ns");
      const sent = await publishN(b, 40);
      await e.loseRecords("ns");
      const restarted = hub(await e.crashed());
      await restarted.load();
      const ns = restarted.namespace("ns")!;
      assert.notEqual(ns.epoch, sent[0].epoch);
      const r = await restarted.subscribe({ deliver: () => {} }, "ns.>", {
        resume: { ns: { epoch: sent[0].epoch, seq: 40 } },
      });
      assert.equal(r.recovered, false);
    } finally {
      await e.dispose();
    }
  });

  test("a purged channel is neither read nor replayed; positions and other channels' resumes are untouched", async (make) => {
    const e = await make({});
    try {
      const b = hub(e.engine);
      await b.createNamespace("ns");
      const sent = await mixed(b);
      const ns = b.namespace("ns")!;
      const first = ns.firstSeq;
      assert.equal(await b.purgeChannel("ns.a"), 6);
      assert.deepEqual(await readTags(b), ["b2", "b4"]);
      assert.equal(ns.firstSeq, first, "a purge is not retention");
      const resume = { resume: { ns: { epoch: sent[0].epoch, seq: 0 } } };
      assert.deepEqual(await replayed(b, "ns.>", resume), { seqs: [3, 5], recovered: true });
      assert.deepEqual(await replayed(b, "ns.a", { from: "first" }), { seqs: [], recovered: true });
      assert.deepEqual(await replayed(b, "ns.a", { from: "last" }), { seqs: [], recovered: true });
      const again = await b.publish({ channel: "ns.a", payload: json("new") });
      assert.equal(again.seq, 7);
      assert.deepEqual(await readTags(b), ["b2", "b4", 'a"new"']);
      if (!e.crashed) return;
      const restarted = hub(await e.crashed());
      await restarted.load();
      assert.deepEqual(await readTags(restarted), ["b2", "b4", 'a"new"']);
      assert.deepEqual(restarted.namespace("ns")!.position, { epoch: sent[0].epoch, seq: 7 });
      assert.deepEqual(await replayed(restarted, "ns.>", resume), {
        seqs: [3, 5, 7],
        recovered: true,
      });
    } finally {
      await e.dispose();
    }
  });

  test("a purge through a sequence keeps the channel's later messages, after a restart too", async (make) => {
    const e = await make({});
    try {
      const b = hub(e.engine);
      await b.createNamespace("ns");
      await mixed(b);
      await b.purgeChannel("ns.a", 4);
      await b.purgeChannel("ns.a", 2); // an older purge changes nothing
      assert.deepEqual(await readTags(b), ["b2", "b4", "a5"]);
      if (!e.crashed) return;
      const restarted = hub(await e.crashed());
      await restarted.load();
      assert.deepEqual(await readTags(restarted), ["b2", "b4", "a5"]);
      const tail = await restarted.namespace("ns")!.readStored(1);
      const stored: string[] = [];
      for await (const batch of tail) stored.push(...batch.map((m) => m.channel + m.seq));
      assert.deepEqual(stored, ["ns.b3", "ns.b5", "ns.a6"], "the engine's own read skips them");
    } finally {
      await e.dispose();
    }
  });

  test("a channel cap keeps each channel's newest messages, stored and live, after a restart too", async (make) => {
    const e = await make({});
    try {
      const b = hub(e.engine);
      await b.createNamespace("ns");
      await publishN(b, 4, "ns.a");
      await b.capChannels("ns", 3, (_, error) => assert.fail(String(error)));
      assert.deepEqual((await readTags(b)).join(), "a1,a2,a3", "counted what was stored");
      await publishN(b, 2, "ns.b");
      for (let i = 4; i < 12; i++) await b.publish({ channel: "ns.a", payload: json(i) });
      await b.purgeChannel("ns.none"); // a purge that waits for every trim before it
      assert.deepEqual((await readTags(b)).join(), "b0,b1,a9,a10,a11");
      if (!e.crashed) return;
      const restarted = hub(await e.crashed());
      await restarted.load();
      assert.deepEqual((await readTags(restarted)).join(), "b0,b1,a9,a10,a11");
    } finally {
      await e.dispose();
    }
  });

  test("a restart after a crash keeps every acknowledged message, its epoch and its position", async (make) => {
    const e = await make({});
    if (!e.crashed) return await e.dispose();
    try {
      const b = hub(e.engine);
      await b.createNamespace("ns");
      const sent = await publishN(b, 5);
      const restarted = hub(await e.crashed());
      await restarted.load();
      const ns = restarted.namespace("ns")!;
      assert.deepEqual(ns.position, { epoch: sent[0].epoch, seq: 5 });
      const read: BusMessage[] = [];
      for await (const batch of restarted.read(ns, 1)) read.push(...batch);
      assert.deepEqual(
        read.map((m) => [m.seq, m.id, text(m)]),
        sent.map((m) => [m.seq, m.id, text(m)]),
      );
      assert.equal((await restarted.publish({ channel: "ns.x", payload: json(6) })).seq, 6);
    } finally {
      await e.dispose();
    }
  });
}
