import assert from "node:assert/strict";
import { Broker, type Subscriber } from "./broker.ts";
import type { BusMessage } from "./message.ts";
import { within } from "../../test/helpers/deadline.ts";
import type { AppendRequest, EngineStream, StreamEngine, StreamListener } from "./stream-engine.ts";

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const sink = () => {
  const got: BusMessage[] = [];
  const sub: Subscriber = { deliver: (m) => got.push(m) };
  return { sub, got, seqs: () => got.map((m) => m.seq) };
};
/** An engine of one stream, made for the namespace that is opened. */
const engineOf = (stream: (listener: StreamListener) => EngineStream): StreamEngine => ({
  list: () => Promise.resolve([]),
  open: (_name, listener) => Promise.resolve(stream(listener)),
  applyRetention: () => Promise.resolve(),
  close: () => Promise.resolve(),
});

/**
 * A stream that numbers appends as an engine does; `store` keeps a positioned batch (resolving
 * once it is durable) or fails it, and then the sequences are handed out again.
 */
function fakeStream(
  listener: StreamListener,
  store: (batch: BusMessage[]) => Promise<void>,
  rest: Pick<EngineStream, "read" | "firstSeq"> = { firstSeq: 0, read: async function* () {} },
): EngineStream {
  let lastSeq = 0;
  return {
    epoch: "e1",
    get firstSeq() {
      return rest.firstSeq;
    },
    get lastSeq() {
      return lastSeq;
    },
    append: (batch: AppendRequest[]) => {
      const messages = batch.map(({ message }) => ({ ...message, epoch: "e1", seq: ++lastSeq }));
      store(messages).then(
        () => listener.durable(messages),
        (e) => {
          lastSeq = Math.min(lastSeq, messages[0].seq - 1);
          listener.failed(messages.map((m) => m.id), e);
        },
      );
    },
    read: rest.read,
    seekTime: () => Promise.resolve(1),
    tail: () => Promise.resolve([]),
    recentKeys: () => Promise.resolve(new Map()),
    purgeChannel: () => Promise.resolve(),
  };
}
const broker = async (maxMessages = 100) => {
  const b = new Broker({ history: { maxMessages, maxBytes: 1 << 20 } });
  await b.createNamespace("app");
  return b;
};

Deno.test("broker - numbers messages per namespace and delivers once per subscriber", async () => {
  const b = await broker();
  const s = sink();
  await b.subscribe(s.sub, "app.>");
  await b.subscribe(s.sub, "app.*.x");
  const m1 = await b.publish({ channel: "app.a.x", payload: json(1) });
  const m2 = await b.publish({ channel: "app.b", payload: json(2) });
  assert.deepEqual([m1.seq, m2.seq], [1, 2]);
  assert.equal(m1.epoch, m2.epoch);
  assert.ok(m1.id < m2.id, "ids sort in publish order");
  assert.deepEqual(s.seqs(), [1, 2], "overlapping patterns deliver once");
});

Deno.test("broker - resume replays the gap and says recovered", async () => {
  const b = await broker();
  for (let i = 0; i < 5; i++) {
    await b.publish({ channel: i % 2 ? "app.odd" : "app.even", payload: json(i) });
  }
  const epoch = b.namespace("app")!.epoch;
  const s = sink();
  const r = await b.subscribe(s.sub, "app.even", {
    resume: { app: { epoch, seq: 1 } },
  });
  assert.equal(r.recovered, true);
  assert.deepEqual(s.seqs(), [3, 5]);
  assert.deepEqual(r.namespaces.app, {
    epoch,
    seq: 5,
    recovered: true,
    replayed: 2,
  });
});

Deno.test("broker - a purge in a memory-only namespace hides the channel from replays; resumes stay recovered", async () => {
  const b = await broker();
  for (let i = 0; i < 5; i++) {
    await b.publish({ channel: i % 2 ? "app.odd" : "app.even", payload: json(i) });
  }
  assert.equal(await b.purgeChannel("app.even", 3), 3);
  const s = sink();
  const epoch = b.namespace("app")!.epoch;
  const r = await b.subscribe(s.sub, "app.>", { resume: { app: { epoch, seq: 0 } } });
  assert.equal(r.recovered, true);
  assert.deepEqual(s.seqs(), [2, 4, 5]);
  assert.equal(await b.purgeChannel("none.x"), 0, "an unknown namespace has nothing to purge");
});

Deno.test("broker - resume past evicted history or another epoch is recovered:false with no replay", async () => {
  const b = await broker(3);
  for (let i = 0; i < 10; i++) {
    await b.publish({ channel: "app.x", payload: json(i) });
  }
  const epoch = b.namespace("app")!.epoch;
  for (
    const position of [{ epoch, seq: 2 }, { epoch: "other", seq: 9 }, {
      epoch,
      seq: 99,
    }]
  ) {
    const s = sink();
    const r = await b.subscribe(s.sub, "app.x", { resume: { app: position } });
    assert.equal(r.recovered, false, JSON.stringify(position));
    assert.deepEqual(s.got, []);
  }
  const s = sink();
  const r = await b.subscribe(s.sub, "app.x", { resume: { app: { epoch, seq: 7 } } });
  assert.equal(r.recovered, true);
  assert.deepEqual(s.seqs(), [8, 9, 10]);
});

Deno.test("broker - start from first, last, seq and time", async () => {
  let now = 1000;
  const b = new Broker({
    history: { maxMessages: 100, maxBytes: 1 << 20 },
    now: () => now++,
  });
  await b.createNamespace("app");
  for (let i = 0; i < 4; i++) await b.publish({ channel: "app.x", payload: json(i) });
  const from = async (f: Parameters<Broker["subscribe"]>[2]) => {
    const s = sink();
    await b.subscribe(s.sub, "app.x", f);
    return s.seqs();
  };
  assert.deepEqual(await from({ from: "first" }), [1, 2, 3, 4]);
  assert.deepEqual(await from({ from: "last" }), [4]);
  assert.deepEqual(await from({ from: { seq: 3 } }), [3, 4]);
  assert.deepEqual(await from({ from: { time: 1002 } }), [3, 4]);
  assert.deepEqual(await from({ from: "new" }), []);
});

Deno.test("broker - leading wildcards do not reach $ namespaces", async () => {
  const b = await broker();
  await b.createNamespace("$sys");
  const all = sink(), sys = sink();
  await b.subscribe(all.sub, ">");
  await b.subscribe(sys.sub, "$sys.>");
  await b.publish({ channel: "$sys.conn", payload: json(1) });
  await b.publish({ channel: "app.x", payload: json(2) });
  assert.deepEqual(all.got.map((m) => m.channel), ["app.x"]);
  assert.deepEqual(sys.got.map((m) => m.channel), ["$sys.conn"]);
});

Deno.test("broker - publishing to a namespace that does not exist is not_found", async () => {
  const b = await broker();
  await assert.rejects(b.publish({ channel: "nope.x", payload: json(1) }), /does not exist/);
});

Deno.test("broker - a repeated dedupe key is acknowledged with the first position, not stored", async () => {
  const b = await broker();
  const s = sink();
  await b.subscribe(s.sub, "app.>");
  const first = await b.publish({ channel: "app.x", payload: json(1), key: "order-1" });
  const again = await b.publish({ channel: "app.x", payload: json(1), key: "order-1" });
  const other = await b.publish({ channel: "app.x", payload: json(2), key: "order-2" });
  assert.equal(again.duplicate, true);
  assert.deepEqual([again.seq, again.id], [first.seq, first.id]);
  assert.deepEqual(s.seqs(), [1, 2]);
  assert.equal(other.seq, 2);
});

Deno.test("broker - start after a message id", async () => {
  const b = await broker();
  const ms = [];
  for (let i = 0; i < 4; i++) ms.push(await b.publish({ channel: "app.x", payload: json(i) }));
  const s = sink();
  await b.subscribe(s.sub, "app.x", { from: { id: ms[1].id } });
  assert.deepEqual(s.seqs(), [3, 4]);
});

Deno.test("broker - a per-channel limit replays only the newest messages of each channel", async () => {
  const b = new Broker({ history: { maxMessages: 100, maxBytes: 1 << 20 }, maxPerChannel: 2 });
  await b.createNamespace("app");
  for (let i = 0; i < 4; i++) {
    await b.publish({ channel: "app.a", payload: json(i) });
    await b.publish({ channel: "app.b", payload: json(i) });
  }
  const s = sink();
  await b.subscribe(s.sub, "app.>", { from: "first" });
  assert.deepEqual(s.got.map((m) => `${m.channel}#${m.seq}`), [
    "app.a#5",
    "app.b#6",
    "app.a#7",
    "app.b#8",
  ]);
});

Deno.test("broker - consumers read what replays replay: no expired message, none past the per-channel limit", async () => {
  const b = new Broker({ history: { maxMessages: 100, maxBytes: 1 << 20 }, maxPerChannel: 1 });
  await b.createNamespace("app");
  await b.publish({ channel: "app.a", payload: json(1), expiresAt: 1 });
  await b.publish({ channel: "app.b", payload: json(2) });
  await b.publish({ channel: "app.b", payload: json(3) });
  await b.publish({ channel: "app.c", payload: json(4) });
  const read: number[] = [];
  for await (const batch of b.read(b.namespace("app")!, 1)) read.push(...batch.map((m) => m.seq));
  const s = sink();
  await b.subscribe(s.sub, "app.>", { from: "first" });
  assert.deepEqual(read, [3, 4]);
  assert.deepEqual(s.seqs(), [3, 4]);
});

Deno.test("broker - a confirm that times out while the message is still being stored is a clean error", async () => {
  let store!: () => void;
  const b = new Broker({
    history: { maxMessages: 10, maxBytes: 1 << 20 },
    storage: engineOf((listener) =>
      fakeStream(listener, () => new Promise<void>((resolve) => store = resolve))
    ),
  });
  await b.createNamespace("app");
  const published = b.publish({
    channel: "app.x",
    payload: json(1),
    confirm: 1,
    confirmTimeoutMs: 1,
  });
  // The confirmation times out before the append finishes; nothing may be left unhandled.
  await new Promise((r) => setTimeout(r, 20));
  store();
  await assert.rejects(published, /0 of 1 consumer acks/);
});

Deno.test("broker - a failed store hands its sequence out again, so numbers stay contiguous", async () => {
  let full = true;
  const stored: number[] = [];
  const flaky = (listener: StreamListener) =>
    fakeStream(listener, (batch) => {
      if (full) return Promise.reject(new Error("disk full"));
      stored.push(...batch.map((m) => m.seq));
      return Promise.resolve();
    });
  const b = new Broker({
    history: { maxMessages: 10, maxBytes: 1 << 20 },
    storage: engineOf(flaky),
  });
  await b.createNamespace("app");
  // Several in flight at once fail together, as the log fails what is queued behind a write.
  const failed = [1, 2, 3].map((i) => b.publish({ channel: "app.x", payload: json(i) }));
  for (const p of failed) await assert.rejects(p, /disk full/);
  full = false;
  const s = sink();
  await b.subscribe(s.sub, "app.>");
  assert.equal((await b.publish({ channel: "app.x", payload: json(4) })).seq, 1);
  assert.equal((await b.publish({ channel: "app.x", payload: json(5) })).seq, 2);
  assert.deepEqual(stored, [1, 2]);
  assert.deepEqual(s.seqs(), [1, 2]);
  const history = b.namespace("app")!.fromMemory(1, 2).map((m) => m.seq);
  assert.deepEqual(history, [1, 2], "history holds contiguous sequences");
});

Deno.test("broker - messages the engine reports durable without a local publish (another node's) are fanned out in order", async () => {
  let engine!: StreamListener;
  const b = new Broker({
    history: { maxMessages: 10, maxBytes: 1 << 20 },
    storage: engineOf((listener) => fakeStream(engine = listener, () => Promise.resolve())),
  });
  await b.createNamespace("app");
  const s = sink();
  await b.subscribe(s.sub, "app.>");
  const local = await b.publish({ channel: "app.x", payload: json("here") });
  const remote = (seq: number): BusMessage => ({
    ...local,
    seq,
    id: `elsewhere-${seq}`,
    payload: json("there"),
  });
  engine.durable([remote(2), remote(3)]);
  assert.deepEqual(s.seqs(), [1, 2, 3]);
  assert.deepEqual(b.namespace("app")!.position, { epoch: "e1", seq: 3 });
});

/** A stored namespace in memory: every message kept, read in chunks of `chunk`. */
function memoryStorage(chunk: number): (listener: StreamListener) => EngineStream {
  const stored: BusMessage[] = [];
  return (listener) =>
    fakeStream(listener, (batch) => {
      stored.push(...batch);
      return Promise.resolve();
    }, {
      get firstSeq() {
        return stored[0]?.seq ?? 0;
      },
      read: async function* (fromSeq) {
        const rest = stored.filter((m) => m.seq >= fromSeq);
        for (let i = 0; i < rest.length; i += chunk) yield rest.slice(i, i + chunk);
      },
    });
}

Deno.test("broker - a replay waits whenever the subscriber is full, from the log and from memory, and misses nothing published meanwhile", async () => {
  const b = new Broker({
    history: { maxMessages: 10, maxBytes: 1 << 20 },
    storage: engineOf(memoryStorage(7)),
  });
  await b.createNamespace("app");
  for (let i = 1; i <= 40; i++) await b.publish({ channel: "app.x", payload: json(i) });
  // A subscriber that holds at most 3 unread messages; "reading" empties it.
  const got: number[] = [];
  let unread = 0;
  let mostUnread = 0;
  let wake: (() => void) | undefined;
  const sub: Subscriber = {
    deliver: (m) => {
      got.push(m.seq);
      mostUnread = Math.max(mostUnread, ++unread);
    },
    ready: () => unread < 3 ? undefined : new Promise<void>((r) => wake = r),
  };
  let done = false;
  const subscribed = b.subscribe(sub, "app.>", { from: "first" }).finally(() => done = true);
  let next = 41;
  for (let turn = 0; !done && turn < 1000; turn++) {
    await new Promise((r) => setTimeout(r, 0));
    if (!wake) continue;
    const read = wake;
    wake = undefined;
    // Live messages arrive while the replay waits; then the client reads.
    await b.publish({ channel: "app.x", payload: json(next++) });
    unread = 0;
    read();
  }
  const result = await subscribed;
  await b.publish({ channel: "app.x", payload: json(next++) });
  assert.deepEqual(got, Array.from({ length: next - 1 }, (_, i) => i + 1));
  assert.ok(mostUnread <= 3, `${mostUnread} messages were pushed past a full subscriber`);
  assert.equal(result.namespaces.app.recovered, true);
  assert.equal(result.namespaces.app.replayed, next - 2);
});

Deno.test("broker - a batch: one append per run of a namespace, each publish answered by its tag, in order", async () => {
  const appends: number[] = [];
  const b = new Broker({
    history: { maxMessages: 100, maxBytes: 1 << 20 },
    storage: engineOf((listener) =>
      fakeStream(listener, (batch) => {
        appends.push(batch.length);
        return Promise.resolve();
      })
    ),
    ephemeral: (name) => name === "live",
  });
  await b.createNamespace("app");
  await b.createNamespace("live");
  const s = sink();
  await b.subscribe(s.sub, "live.>");
  const heard: string[] = [];
  const all = Promise.withResolvers<void>();
  const hear = (what: string) => heard.push(what) === 6 && all.resolve();
  const outcome = {
    published: (tag: string, m: BusMessage) => hear(`${tag}:${m.seq}`),
    failed: (tag: string, e: unknown) => hear(`${tag}:${(e as { code: string }).code}`),
  };
  b.publishBatch(
    [
      { channel: "live.a", payload: json(1) },
      { channel: "live.b", payload: json(2) },
      { channel: "nowhere.a", payload: json(3) },
      { channel: "app.a", payload: json(4) },
      { channel: "app.b", payload: json(5) },
      { channel: "app.c", payload: json(6) },
    ],
    ["l1", "l2", "x", "a1", "a2", "a3"],
    outcome,
  );
  // The memory-only namespace delivered and answered within the call; the stored one waits.
  assert.deepEqual(heard, ["l1:1", "l2:2", "x:not_found"]);
  assert.deepEqual(s.seqs(), [1, 2]);
  await within(all.promise, 10_000, "the stored publishes' answers");
  assert.deepEqual(heard.slice(3), ["a1:1", "a2:2", "a3:3"]);
  assert.deepEqual(appends, [3], "the stored run was one append");
});

Deno.test("broker - an interest listener hears a namespace's patterns gain their first and lose their last subscriber", async () => {
  const b = await broker();
  await b.createNamespace("pg");
  const events: string[] = [];
  let release = () => {};
  b.watchInterest("pg", {
    gained: (p) => {
      events.push(`+${p}`);
      if (p === "pg.orders") return new Promise((resolve) => release = resolve);
    },
    lost: (p) => events.push(`-${p}`),
  });
  const s1: Subscriber = { deliver() {} };
  const s2: Subscriber = { deliver() {} };
  let answered = false;
  const first = b.subscribe(s1, "pg.orders").then(() => answered = true);
  await b.subscribe(s2, "app.x");
  assert.equal(answered, false, "the answer waits for the listener");
  release();
  await first;
  await b.subscribe(s2, "pg.orders");
  await b.subscribe(s2, "pg.*");
  b.unsubscribe(s1, "pg.orders");
  b.unsubscribe(s2, "pg.orders");
  b.unsubscribe(s2, "pg.*");
  assert.deepEqual(events, ["+pg.orders", "+pg.*", "-pg.orders", "-pg.*"]);
});

Deno.test("broker - reportLoss tells each subscriber of the channels once, at the namespace's end", async () => {
  const b = await broker();
  const losses: unknown[] = [];
  const sub: Subscriber = { deliver() {}, lost: (l) => losses.push(l) };
  const other: Subscriber = { deliver() {}, lost: (l) => losses.push(l) };
  await b.subscribe(sub, "app.*");
  await b.subscribe(sub, "app.a");
  await b.subscribe(other, "app.c");
  await b.publish({ channel: "app.a", payload: new Uint8Array() });
  b.reportLoss("app", ["app.a", "app.b"], "unavailable");
  const ns = b.namespace("app")!;
  assert.deepEqual(losses, [{ namespace: "app", epoch: ns.epoch, after: 1, code: "unavailable" }]);
});
