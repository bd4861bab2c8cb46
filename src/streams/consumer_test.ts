import assert from "node:assert/strict";
import { within } from "../../test/helpers/deadline.ts";
import { Broker, type Subscriber } from "../core/broker.ts";
import type { BusMessage } from "../core/message.ts";
import { parseConsumerSpec } from "./consumer-config.ts";
import type { ConsumerMember, ConsumerState, Delivery } from "./consumer.ts";
import { ConsumerRegistry, type ConsumerStore } from "./consumer-registry.ts";

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const text = (m: BusMessage) => new TextDecoder().decode(m.payload);

/** A member whose deliveries can be awaited one by one. */
class Inbox implements ConsumerMember {
  readonly got: Delivery[] = [];
  #waiters: ((d: Delivery) => void)[] = [];
  #queued: Delivery[] = [];
  room = true;
  hasRoom() {
    return this.room;
  }
  deliver(d: Delivery) {
    this.got.push(d);
    const waiter = this.#waiters.shift();
    if (waiter) waiter(d);
    else this.#queued.push(d);
  }
  next(): Promise<Delivery> {
    const queued = this.#queued.shift();
    if (queued) return Promise.resolve(queued);
    return within(
      new Promise((resolve) => this.#waiters.push(resolve)),
      10_000,
      "a delivery",
    );
  }
  get pending(): number {
    return this.#queued.length;
  }
}

/** Keeps saved states in memory, as the file store keeps them on disk. */
class MemoryStore implements ConsumerStore {
  readonly states = new Map<string, string>();
  list() {
    return Promise.resolve(
      [...this.states.values()].map((s) => JSON.parse(s) as ConsumerState),
    );
  }
  save(state: ConsumerState) {
    this.states.set(state.config.name, JSON.stringify(state));
    return Promise.resolve();
  }
  remove(name: string) {
    this.states.delete(name);
    return Promise.resolve();
  }
}

async function setup(store?: ConsumerStore, broker?: Broker) {
  broker ??= new Broker({ history: { maxMessages: 1000, maxBytes: 1 << 20 } });
  await broker.createNamespace("jobs");
  await broker.createNamespace("$sys");
  const registry = new ConsumerRegistry(broker, store, () => {});
  await registry.load();
  const publish = (n: number, channel = "jobs.a", confirm?: number) =>
    broker!.publish({
      channel,
      payload: json(n),
      confirm,
      confirmTimeoutMs: 2000,
    });
  const dlq = (name: string) => {
    const letters: BusMessage[] = [];
    let notify = () => {};
    const sub: Subscriber = {
      deliver: (m) => {
        letters.push(m);
        notify();
      },
    };
    broker!.subscribe(sub, `$sys.dlq.${name}`);
    const next = () =>
      letters.length ? Promise.resolve(letters.shift()!) : within(
        new Promise<BusMessage>((r) => notify = () => r(letters.shift()!)),
        10_000,
        "a dead letter",
      );
    return { next };
  };
  return { broker, registry, publish, dlq };
}

const spec = (extra: Record<string, unknown> = {}) =>
  parseConsumerSpec({ name: "w", pattern: "jobs.>", from: "first", ...extra });

Deno.test("consumer - an unacked delivery comes again after the ack wait, with its attempt number", async () => {
  const { registry, publish } = await setup();
  await publish(1);
  const c = await registry.create(spec({ ackWait: 20 }));
  const inbox = new Inbox();
  c.join(inbox);
  const first = await inbox.next();
  assert.equal(first.attempt, 1);
  assert.equal(c.isPending(first.message.seq), true);
  const second = await inbox.next();
  assert.equal(second.attempt, 2);
  assert.equal(second.message.seq, first.message.seq);
  await c.settle(second.message.seq, "ack");
  await assert.rejects(
    c.settle(second.message.seq, "ack"),
    /acked or terminated already/,
  );
  await registry.close();
});

Deno.test("consumer - nak with a delay redelivers after it; in-progress pushes the deadline", async () => {
  const { registry, publish } = await setup();
  await publish(1);
  await publish(2);
  const c = await registry.create(spec({ ackWait: 60_000, maxInFlight: 1 }));
  const inbox = new Inbox();
  c.join(inbox);
  const one = await inbox.next();
  await c.settle(one.message.seq, "progress");
  await c.settle(one.message.seq, "nak", 30);
  // A nak'd message still counts toward max in-flight (1): #1 comes again before #2.
  const again = await inbox.next();
  assert.equal(again.message.seq, one.message.seq);
  assert.equal(again.attempt, 2);
  await c.settle(again.message.seq, "ack");
  const two = await inbox.next();
  assert.equal(text(two.message), "2");
  assert.equal(two.attempt, 1);
  await registry.close();
});

Deno.test("consumer - max deliver sends the message to the dead-letter channel with the reason", async () => {
  const { registry, publish, dlq } = await setup();
  const letters = dlq("w");
  await publish(7);
  const c = await registry.create(spec({ ackWait: 10, maxDeliver: 2 }));
  const inbox = new Inbox();
  c.join(inbox);
  assert.equal((await inbox.next()).attempt, 1);
  assert.equal((await inbox.next()).attempt, 2);
  const letter = await letters.next();
  assert.equal(c.isPending(1), false, "given up on: no longer pending");
  assert.equal(text(letter), "7");
  assert.equal(letter.headers?.["catbus-dlq-reason"], "max_deliver");
  assert.equal(letter.headers?.["catbus-dlq-attempts"], "2");
  assert.equal(letter.headers?.["catbus-dlq-channel"], "jobs.a");
  await registry.close();
});

Deno.test("consumer - term dead-letters at once and backoff spaces redeliveries", async () => {
  const { registry, publish, dlq } = await setup();
  const letters = dlq("w");
  await publish(1);
  const c = await registry.create(spec({ ackWait: 10, backoff: [5, 10] }));
  const inbox = new Inbox();
  c.join(inbox);
  await inbox.next();
  const retry = await inbox.next();
  assert.equal(retry.attempt, 2);
  await c.settle(retry.message.seq, "term");
  const letter = await letters.next();
  assert.equal(letter.headers?.["catbus-dlq-reason"], "terminated");
  await registry.close();
});

Deno.test("consumer - a queue group splits messages and a dead member's work goes to a survivor", async () => {
  const { registry, publish } = await setup();
  const c = await registry.create(spec({ ackWait: 60_000 }));
  const a = new Inbox();
  const b = new Inbox();
  c.join(a);
  c.join(b);
  for (let i = 0; i < 10; i++) await publish(i);
  while (a.got.length + b.got.length < 10) {
    await (a.pending ? a.next() : b.next());
  }
  assert.ok(a.got.length > 0 && b.got.length > 0, "both members got work");
  const seqs = [...a.got, ...b.got].map((d) => d.message.seq).sort((x, y) => x - y);
  assert.deepEqual(
    seqs,
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    "each message delivered once",
  );
  while (a.pending) await a.next();
  while (b.pending) await b.next();
  for (const d of b.got) await c.settle(d.message.seq, "ack");
  const lost = a.got.map((d) => d.message.seq);
  c.leave(a);
  const redelivered: number[] = [];
  while (redelivered.length < lost.length) {
    const d = await b.next();
    assert.equal(d.attempt, 2);
    redelivered.push(d.message.seq);
  }
  assert.deepEqual(redelivered.sort((x, y) => x - y), lost);
  await registry.close();
});

Deno.test("consumer - state survives a restart: unacked messages come again, acked ones do not", async () => {
  const store = new MemoryStore();
  const broker = new Broker({
    history: { maxMessages: 1000, maxBytes: 1 << 20 },
  });
  const first = await setup(store, broker);
  for (let i = 1; i <= 3; i++) await first.publish(i);
  const c = await first.registry.create(spec({ ackWait: 60_000 }));
  const inbox = new Inbox();
  c.join(inbox);
  const one = await inbox.next();
  await inbox.next();
  await inbox.next();
  await c.settle(one.message.seq, "ack");
  await first.registry.close();

  const second = await setup(store, broker);
  const restored = second.registry.require("w");
  const again = new Inbox();
  restored.join(again);
  const d2 = await again.next();
  const d3 = await again.next();
  assert.deepEqual([d2.message.seq, d3.message.seq], [2, 3]);
  assert.deepEqual([d2.attempt, d3.attempt], [2, 2]);
  await second.publish(4);
  assert.equal((await again.next()).attempt, 1);
  await second.registry.close();
});

Deno.test("consumer - a publish with confirm waits for N acks, or times out", async () => {
  const { registry, publish, broker } = await setup();
  const c1 = await registry.create(spec({ name: "c1", from: "new" }));
  const c2 = await registry.create(spec({ name: "c2", from: "new" }));
  const i1 = new Inbox();
  const i2 = new Inbox();
  c1.join(i1);
  c2.join(i2);
  const confirmed = publish(1, "jobs.a", 2);
  await c1.settle((await i1.next()).message.seq, "ack");
  await c2.settle((await i2.next()).message.seq, "ack");
  assert.equal((await confirmed).seq, 1);

  const lonely = broker.publish({
    channel: "jobs.a",
    payload: json(2),
    confirm: 3,
    confirmTimeoutMs: 30,
  });
  await c1.settle((await i1.next()).message.seq, "ack");
  await assert.rejects(lonely, /only 1 of 3 consumer acks/);
  await registry.close();
});

Deno.test("consumer - creating again with the same settings is fine, different ones conflict", async () => {
  const { registry, publish } = await setup();
  await publish(1);
  const c = await registry.create(spec());
  assert.equal(await registry.create(spec({ from: "new" })), c);
  await assert.rejects(
    registry.create(spec({ maxDeliver: 9 })),
    /another configuration/,
  );
  assert.throws(
    () => parseConsumerSpec({ name: "bad name", pattern: "jobs.>" }),
    /consumer "name"/,
  );
  assert.throws(
    () => parseConsumerSpec({ name: "x", pattern: ">" }),
    /namespace name/,
  );
  await registry.close();
});

Deno.test("consumer - ackPolicy none delivers each message once and takes no acks", async () => {
  const { registry, publish } = await setup();
  await publish(1);
  await publish(2);
  const c = await registry.create(spec({ ackPolicy: "none", ackWait: 5 }));
  const inbox = new Inbox();
  c.join(inbox);
  const [one, two] = [await inbox.next(), await inbox.next()];
  assert.deepEqual([one.message.seq, two.message.seq, one.attempt], [1, 2, 1]);
  assert.equal(c.info().pending, 0);
  await assert.rejects(c.settle(1, "ack"), /take no acks/);
  await publish(3);
  assert.equal(
    (await inbox.next()).message.seq,
    3,
    "no redelivery came before the new message",
  );
  await registry.close();
});

Deno.test("consumer - a nak counts as an attempt: after max deliver naks the message is dead-lettered", async () => {
  const { registry, publish, dlq } = await setup();
  const letters = dlq("w");
  await publish(7);
  const c = await registry.create(spec({ ackWait: 60_000, maxDeliver: 2 }));
  const inbox = new Inbox();
  c.join(inbox);
  for (const attempt of [1, 2]) {
    const d = await within(inbox.next(), 10_000, `delivery ${attempt}`);
    assert.equal(d.attempt, attempt);
    await c.settle(d.message.seq, "nak");
  }
  const letter = await within(letters.next(), 10_000, "dead letter");
  assert.equal(letter.headers?.["catbus-dlq-reason"], "max_deliver");
  assert.equal(letter.headers?.["catbus-dlq-attempts"], "2");
  assert.equal(inbox.got.length, 2, "no third delivery");
  assert.equal(c.isPending(1), false);
  await registry.close();
});

Deno.test("consumer - a nak waits for the backoff: newer messages come first", async () => {
  const { registry, publish } = await setup();
  await publish(1);
  const c = await registry.create(spec({ ackWait: 60_000, backoff: [60_000] }));
  const inbox = new Inbox();
  c.join(inbox);
  const one = await within(inbox.next(), 10_000, "first delivery");
  await c.settle(one.message.seq, "nak");
  await publish(2);
  // A due redelivery would be handed out before the new message.
  const next = await within(inbox.next(), 10_000, "second message");
  assert.equal(text(next.message), "2");
  assert.equal(
    c.isPending(one.message.seq),
    true,
    "still waiting for its redelivery",
  );
  await registry.close();
});

Deno.test("consumer - max deliver holds after a restart: a message delivered max times is dead-lettered", async () => {
  const store = new MemoryStore();
  const broker = new Broker({
    history: { maxMessages: 1000, maxBytes: 1 << 20 },
  });
  const first = await setup(store, broker);
  await first.publish(1);
  const c = await first.registry.create(
    spec({ ackWait: 60_000, maxDeliver: 1 }),
  );
  const inbox = new Inbox();
  c.join(inbox);
  await within(inbox.next(), 10_000, "the only delivery");
  await first.registry.close();

  const second = await setup(store, broker);
  const letters = second.dlq("w");
  const again = new Inbox();
  second.registry.require("w").join(again);
  const letter = await within(letters.next(), 10_000, "dead letter");
  assert.equal(letter.headers?.["catbus-dlq-reason"], "max_deliver");
  assert.equal(again.got.length, 0, "not delivered a second time");
  await second.registry.close();
});

Deno.test("consumer - a term whose dead letter could not be stored is retried as a dead letter, not redelivered", async () => {
  const { registry, publish, broker } = await setup();
  await publish(1);
  const c = await registry.create(
    spec({ ackWait: 20, deadLetter: "later.dead" }),
  );
  const inbox = new Inbox();
  c.join(inbox);
  const d = await within(inbox.next(), 10_000, "delivery");
  // The dead-letter namespace does not exist yet: the first write fails.
  await c.settle(d.message.seq, "term");
  await broker.createNamespace("later");
  const letters: BusMessage[] = [];
  const stored = Promise.withResolvers<void>();
  await broker.subscribe({
    deliver: (m) => {
      letters.push(m);
      stored.resolve();
    },
  }, "later.dead");
  await within(stored.promise, 10_000, "dead letter after the retry");
  assert.equal(letters[0].headers?.["catbus-dlq-reason"], "terminated");
  assert.equal(inbox.got.length, 1, "not delivered again");
  await registry.close();
});
