import assert from "node:assert/strict";
import { within } from "../../test/helpers/deadline.ts";
import type { BusMessage } from "../core/message.ts";
import { parseConsumerSpec } from "./consumer-config.ts";
import { Consumer, type ConsumerMember, type Delivery } from "./consumer.ts";
import { ConsumerRelay } from "./consumer-relay.ts";
import type { LiveNode, NodeChannels, RegistryListener } from "./node-channels.ts";

/** Node channels of several nodes in one process: mail in a later turn, entries at once. */
class Hub {
  readonly nodes = new Map<string, MemoryChannels>();

  join(node: string): MemoryChannels {
    const channels = new MemoryChannels(this, node);
    this.nodes.set(node, channels);
    for (const other of this.others(node)) {
      for (const l of other.listeners) l.reset(node, new Set());
    }
    return channels;
  }

  others(node: string): MemoryChannels[] {
    return [...this.nodes.values()].filter((c) => c.node !== node);
  }

  /** `node` is gone for the others (its TTL ran out). */
  kill(node: string): void {
    this.nodes.delete(node);
    for (const other of this.nodes.values()) for (const l of other.listeners) l.gone(node);
  }
}

class MemoryChannels implements NodeChannels {
  readonly receivers: ((from: string, body: Uint8Array) => void)[] = [];
  readonly listeners: RegistryListener[] = [];
  readonly entries = new Set<string>();
  constructor(readonly hub: Hub, readonly node: string) {}

  send(to: string, body: Uint8Array): Promise<void> {
    if (!this.hub.nodes.has(this.node)) return Promise.resolve(); // a dead node sends nothing
    setTimeout(() => {
      for (const receive of this.hub.nodes.get(to)?.receivers ?? []) receive(this.node, body);
    });
    return Promise.resolve();
  }
  onMail(receive: (from: string, body: Uint8Array) => void): void {
    this.receivers.push(receive);
  }
  enter(entry: string, on: boolean): Promise<void> {
    if (on) this.entries.add(entry);
    else this.entries.delete(entry);
    for (const other of this.hub.others(this.node)) {
      for (const l of other.listeners) on ? l.added(this.node, entry) : l.removed(this.node, entry);
    }
    return Promise.resolve();
  }
  watch(listener: RegistryListener): void {
    this.listeners.push(listener);
    for (const other of this.hub.others(this.node)) listener.reset(other.node, other.entries);
  }
  urls(): readonly string[] {
    return [];
  }
  nodes(): readonly LiveNode[] {
    return [...this.hub.nodes.keys()].map((node) => ({ node, urls: [] }));
  }
  advertise(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A member whose deliveries can be awaited one by one. */
class Inbox implements ConsumerMember {
  readonly #queued: Delivery[] = [];
  readonly #waiters: ((d: Delivery) => void)[] = [];
  hasRoom() {
    return true;
  }
  deliver(d: Delivery) {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(d);
    else this.#queued.push(d);
  }
  next(): Promise<Delivery> {
    const queued = this.#queued.shift();
    if (queued) return Promise.resolve(queued);
    return within(new Promise((resolve) => this.#waiters.push(resolve)), 5_000, "a delivery");
  }
}

const message = (seq: number): BusMessage => ({
  channel: "jobs.a",
  seq,
  epoch: "e1",
  id: `m${seq}`,
  time: 1000 + seq,
  payload: new TextEncoder().encode(String(seq)),
  binary: false,
});

/** A node with one consumer "w" on a stream of `count` messages, and its relay. */
function node(hub: Hub, id: string, count: number) {
  const channels = hub.join(id);
  const relay = new ConsumerRelay(channels, () => {}, { intervalMs: 50, timeoutMs: 2_000 });
  let holding = false;
  const stream = Array.from({ length: count }, (_, i) => message(i + 1));
  const consumer = new Consumer({
    read: async function* (from) {
      yield stream.filter((m) => m.seq >= from);
    },
    deadLetter: () => Promise.resolve(),
    acked: () => {},
    changed: () => Promise.resolve(),
    log: () => {},
    now: Date.now,
    mayDeliver: () => holding,
    remote: relay.remote("w"),
  }, {
    config: parseConsumerSpec({ name: "w", pattern: "jobs.>", maxInFlight: 4, ackWait: 60_000 }),
    epoch: "e1",
    cursor: 1,
  });
  relay.start({ get: (name) => name === "w" ? consumer : undefined });
  return {
    consumer,
    relay,
    hold() {
      holding = true;
      relay.holding("w", true);
      consumer.wake();
    },
    close() {
      consumer.close();
      relay.close();
    },
  };
}

Deno.test("consumer relay - a member on another node gets a share and settles through the holder", async () => {
  const hub = new Hub();
  const a = node(hub, "a", 6);
  const b = node(hub, "b", 6);
  try {
    const local = new Inbox();
    a.consumer.join(local, 2);
    a.hold();
    assert.equal((await local.next()).message.seq, 1);
    assert.equal((await local.next()).message.seq, 2);
    // Node a's member is full: the next ones go to node b's once node b listed it.
    const remote = new Inbox();
    b.consumer.join(remote);
    const d = await remote.next();
    assert.deepEqual([d.message.seq, d.attempt, d.message.epoch, d.message.time], [
      3,
      1,
      "e1",
      1003,
    ]);
    assert.equal(new TextDecoder().decode(d.message.payload), "3");
    assert.equal((await remote.next()).message.seq, 4);
    await b.consumer.settle(3, "ack"); // answered by node a
    assert.equal(a.consumer.isPending(3), false);
    assert.equal(a.consumer.isPending(4), true);
    await assert.rejects(b.consumer.settle(3, "ack"), /no unacked delivery of #3/);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("consumer relay - a member whose node is gone has its deliveries redelivered to the others", async () => {
  const hub = new Hub();
  const a = node(hub, "a", 3);
  const b = node(hub, "b", 3);
  try {
    const remote = new Inbox();
    b.consumer.join(remote);
    a.hold(); // node a has no member of its own: all go to node b's
    for (let seq = 1; seq <= 3; seq++) assert.equal((await remote.next()).message.seq, seq);
    const local = new Inbox();
    a.consumer.join(local);
    hub.kill("b");
    for (let seq = 1; seq <= 3; seq++) {
      const again = await local.next();
      assert.deepEqual([again.message.seq, again.attempt], [seq, 2]);
    }
    assert.equal(a.consumer.info().members, 1);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("consumer relay - a member that leaves is taken off the holder: what it held goes to the others", async () => {
  const hub = new Hub();
  const a = node(hub, "a", 2);
  const b = node(hub, "b", 2);
  try {
    const local = new Inbox();
    a.consumer.join(local, 1);
    a.hold();
    assert.equal((await local.next()).message.seq, 1);
    const remote = new Inbox();
    b.consumer.join(remote);
    assert.equal((await remote.next()).message.seq, 2);
    b.consumer.leave(remote);
    await a.consumer.settle(1, "ack");
    const again = await local.next();
    assert.deepEqual([again.message.seq, again.attempt], [2, 2]);
    assert.equal(a.consumer.info().members, 1);
  } finally {
    a.close();
    b.close();
  }
});
