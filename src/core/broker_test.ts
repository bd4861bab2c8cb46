import assert from "node:assert/strict";
import { Broker, type Subscriber } from "./broker.ts";
import type { BusMessage } from "./message.ts";

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const sink = () => {
  const got: BusMessage[] = [];
  const sub: Subscriber = { deliver: (m) => got.push(m) };
  return { sub, got, seqs: () => got.map((m) => m.seq) };
};
const broker = (maxMessages = 100) => {
  const b = new Broker({ history: { maxMessages, maxBytes: 1 << 20 } });
  b.ensureNamespace("app");
  return b;
};

Deno.test("broker - numbers messages per namespace and delivers once per subscriber", () => {
  const b = broker();
  const s = sink();
  b.subscribe(s.sub, "app.>");
  b.subscribe(s.sub, "app.*.x");
  const m1 = b.publish({ channel: "app.a.x", payload: json(1) });
  const m2 = b.publish({ channel: "app.b", payload: json(2) });
  assert.deepEqual([m1.seq, m2.seq], [1, 2]);
  assert.equal(m1.epoch, m2.epoch);
  assert.ok(m1.id < m2.id, "ids sort in publish order");
  assert.deepEqual(s.seqs(), [1, 2], "overlapping patterns deliver once");
});

Deno.test("broker - resume replays the gap and says recovered", () => {
  const b = broker();
  for (let i = 0; i < 5; i++) {
    b.publish({ channel: i % 2 ? "app.odd" : "app.even", payload: json(i) });
  }
  const epoch = b.namespace("app")!.epoch;
  const s = sink();
  const r = b.subscribe(s.sub, "app.even", {
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

Deno.test("broker - resume past evicted history or another epoch is recovered:false with no replay", () => {
  const b = broker(3);
  for (let i = 0; i < 10; i++) {
    b.publish({ channel: "app.x", payload: json(i) });
  }
  const epoch = b.namespace("app")!.epoch;
  for (
    const position of [{ epoch, seq: 2 }, { epoch: "other", seq: 9 }, {
      epoch,
      seq: 99,
    }]
  ) {
    const s = sink();
    const r = b.subscribe(s.sub, "app.x", { resume: { app: position } });
    assert.equal(r.recovered, false, JSON.stringify(position));
    assert.deepEqual(s.got, []);
  }
  const s = sink();
  assert.equal(
    b.subscribe(s.sub, "app.x", { resume: { app: { epoch, seq: 7 } } })
      .recovered,
    true,
  );
  assert.deepEqual(s.seqs(), [8, 9, 10]);
});

Deno.test("broker - start from first, last, seq and time", () => {
  let now = 1000;
  const b = new Broker({
    history: { maxMessages: 100, maxBytes: 1 << 20 },
    now: () => now++,
  });
  b.ensureNamespace("app");
  for (let i = 0; i < 4; i++) b.publish({ channel: "app.x", payload: json(i) });
  const from = (f: Parameters<Broker["subscribe"]>[2]) => {
    const s = sink();
    b.subscribe(s.sub, "app.x", f);
    return s.seqs();
  };
  assert.deepEqual(from({ from: "first" }), [1, 2, 3, 4]);
  assert.deepEqual(from({ from: "last" }), [4]);
  assert.deepEqual(from({ from: { seq: 3 } }), [3, 4]);
  assert.deepEqual(from({ from: { time: 1002 } }), [3, 4]);
  assert.deepEqual(from({ from: "new" }), []);
});

Deno.test("broker - leading wildcards do not reach $ namespaces", () => {
  const b = broker();
  b.ensureNamespace("$sys");
  const all = sink(), sys = sink();
  b.subscribe(all.sub, ">");
  b.subscribe(sys.sub, "$sys.>");
  b.publish({ channel: "$sys.conn", payload: json(1) });
  b.publish({ channel: "app.x", payload: json(2) });
  assert.deepEqual(all.got.map((m) => m.channel), ["app.x"]);
  assert.deepEqual(sys.got.map((m) => m.channel), ["$sys.conn"]);
});

Deno.test("broker - publishing to a namespace that does not exist is not_found", () => {
  assert.throws(
    () => broker().publish({ channel: "nope.x", payload: json(1) }),
    /does not exist/,
  );
});
