/**
 * The node-channel contract: what NodeRelay may rely on from any engine's node channels — an
 * inbox per node (bodies of any size) and a registry of entries and URLs that other nodes see
 * change, in order, and that forgets a node that left.
 */
import assert from "node:assert/strict";
import type { NodeChannels, RegistryListener } from "../../src/streams/node-channels.ts";
import { within } from "../helpers/deadline.ts";

export interface ChannelsUnderTest {
  /** One more node's channels on the same engine, advertising `urls`. */
  open(urls: string[]): Promise<NodeChannels>;
  /** Makes the engine take `node`'s listing for expired (as when it stopped renewing it). */
  expire(node: string): Promise<void>;
  /** Closes what `open` made (those not closed by the test) and removes the engine's data. */
  dispose(): Promise<void>;
}

/** A listener that keeps each other node's entries, and wakes waiters on every change. */
function mirror() {
  const entries = new Map<string, Set<string>>();
  let wake = () => {};
  const changed = () => wake();
  const listener: RegistryListener = {
    reset(node, set) {
      entries.set(node, new Set(set));
      changed();
    },
    added(node, entry) {
      entries.set(node, (entries.get(node) ?? new Set()).add(entry));
      changed();
    },
    removed(node, entry) {
      entries.get(node)?.delete(entry);
      changed();
    },
    gone(node) {
      entries.delete(node);
      changed();
    },
  };
  /** Resolves once `node`'s entries (undefined: none known) satisfy `ok`. */
  const until = (what: string, ok: () => boolean) =>
    within(
      (async () => {
        while (!ok()) await new Promise<void>((r) => wake = r);
      })(),
      10_000,
      what,
    );
  return { entries, listener, until };
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

export function runNodeChannelsContract(name: string, make: () => Promise<ChannelsUnderTest>) {
  Deno.test(`${name} node channels - entries reach the other nodes, in order, and leave with their node`, async () => {
    const t = await make();
    try {
      const [a, b] = [await t.open(["ws://a"]), await t.open(["ws://b"])];
      const seen = mirror();
      b.watch(seen.listener);
      const has = (...xs: string[]) => () =>
        JSON.stringify(sorted(seen.entries.get(a.node) ?? [])) === JSON.stringify(sorted(xs));
      await a.enter("s one", true);
      await seen.until("the first entry", has("s one"));
      // Changes of one turn go together, and are applied in order.
      await Promise.all([a.enter("s two", true), a.enter("s one", false), a.enter("c ns", true)]);
      await seen.until("the next changes", has("s two", "c ns"));
      // A node that watches later reads what is there.
      const c = await t.open(["ws://c"]);
      const late = mirror();
      c.watch(late.listener);
      await late.until(
        "a late watcher to read a's entries",
        () => JSON.stringify(sorted(late.entries.get(a.node) ?? [])) === '["c ns","s two"]',
      );
      await a.close();
      await seen.until("a to be gone", () => !seen.entries.has(a.node));
    } finally {
      await t.dispose();
    }
  });

  Deno.test(`${name} node channels - mail reaches the node it is sent to, small and large`, async () => {
    const t = await make();
    try {
      const [a, b, c] = [await t.open([]), await t.open([]), await t.open([])];
      const got: { from: string; body: Uint8Array }[] = [];
      let arrived = () => {};
      b.onMail((from, body) => {
        got.push({ from, body: new Uint8Array(body) });
        arrived();
      });
      c.onMail(() => assert.fail("mail for b reached c"));
      const large = new Uint8Array(20_000).map((_, i) => i % 251);
      await a.send(b.node, new Uint8Array([1, 2, 3]));
      await a.send(b.node, large);
      await within(
        (async () => {
          while (got.length < 2) await new Promise<void>((r) => arrived = r);
        })(),
        10_000,
        "two bodies",
      );
      assert.deepEqual(got.map((m) => m.from), [a.node, a.node]);
      assert.deepEqual(got[0].body, new Uint8Array([1, 2, 3]));
      assert.deepEqual(got[1].body, large);
    } finally {
      await t.dispose();
    }
  });

  Deno.test(`${name} node channels - every node lists the live nodes and their URLs`, async () => {
    const t = await make();
    try {
      const a = await t.open(["ws://a:1"]);
      const b = await t.open(["wss://b.example", "wss://b.example:8443/ws"]);
      const all = ["ws://a:1", "wss://b.example", "wss://b.example:8443/ws"];
      await b.advertise(["wss://b.example", "wss://b.example:8443/ws"]);
      await a.advertise(["ws://a:1"]);
      assert.deepEqual(sorted(a.urls()), all);
      const byNode = new Map(a.nodes().map((n) => [n.node, sorted([...n.urls])]));
      assert.deepEqual(byNode.get(a.node), ["ws://a:1"]);
      assert.deepEqual(byNode.get(b.node), ["wss://b.example", "wss://b.example:8443/ws"]);
      assert.equal(byNode.size, 2);
      await b.close();
      await a.advertise(["ws://a:1"]);
      assert.deepEqual(sorted(a.urls()), ["ws://a:1"]);
      assert.deepEqual(a.nodes().map((n) => n.node), [a.node]);
    } finally {
      await t.dispose();
    }
  });

  Deno.test(`${name} node channels - a node whose listing expired is gone; renewed, it is back with its entries`, async () => {
    const t = await make();
    try {
      const [a, b] = [await t.open(["ws://a"]), await t.open(["ws://b"])];
      const seen = mirror();
      b.watch(seen.listener);
      await a.enter("s jobs.>", true);
      await seen.until("a's entry", () => seen.entries.get(a.node)?.has("s jobs.>") === true);
      await t.expire(a.node);
      await b.advertise(["ws://b"]); // b's next heartbeat drops it
      await seen.until("a to be gone", () => !seen.entries.has(a.node));
      assert.deepEqual(b.urls(), ["ws://b"]);
      await a.advertise(["ws://a"]); // a renews (and writes its entries again if they went)
      await b.advertise(["ws://b"]);
      await seen.until("a to be back", () => seen.entries.get(a.node)?.has("s jobs.>") === true);
    } finally {
      await t.dispose();
    }
  });
}
