import { json } from "./helpers/raw.ts";
import assert from "node:assert/strict";
import { CatbusError, ErrorCode } from "../client/shared/errors.ts";
import { ValkeyEngine } from "../src/streams/valkey/valkey-engine.ts";
import { NamespaceKeys } from "../src/streams/valkey/keys.ts";
import { ValkeyCommands } from "../src/streams/valkey/commands.ts";
import { encodeStored } from "../src/streams/record.ts";
import { Redis } from "iovalkey";
import { type EngineOptions, runStreamEngineContract } from "./contracts/stream-engine.ts";
import { within } from "./helpers/deadline.ts";
import { deleteKeys, followingHub, uniquePrefix, valkeyOrSkip } from "./helpers/valkey.ts";

const url = await valkeyOrSkip("the Valkey stream engine contract");

/** The Valkey engine under a key prefix of its own; "lost records" deletes a namespace's keys. */
async function valkeyEngine(
  options: EngineOptions & { checkIntervalMs?: number; maxNamespaces?: number },
) {
  const prefix = uniquePrefix("engine");
  const open = () =>
    ValkeyEngine.connect({
      url: url!,
      prefix,
      dedupeWindowMs: 120_000,
      retention: { maxAgeMs: 0, maxMessages: options.retainMessages ?? 0, maxBytes: 0 },
      checkIntervalMs: options.checkIntervalMs ?? 1_000,
      maxNamespaces: options.maxNamespaces,
    });
  const engines = [await open()];
  return {
    prefix,
    engine: engines[0],
    crashed: async () => engines[engines.push(await open()) - 1],
    async loseRecords(namespace: string) {
      await deleteKeys(url!, new NamespaceKeys(prefix, namespace).meta.replace(/meta$/, ""));
    },
    async dispose() {
      for (const engine of engines) await engine.close();
      await deleteKeys(url!, prefix);
    },
  };
}

if (url) runStreamEngineContract("valkey", valkeyEngine);

Deno.test({
  name:
    "stream engine valkey - two nodes: one sequence, fan-out on both in order, a key stored once",
  ignore: !url,
  async fn() {
    const e = await valkeyEngine({});
    try {
      const other = await e.crashed();
      const [a, b] = [followingHub(e.engine), followingHub(other)];
      const seen: number[] = [];
      let wake: () => void = () => {};
      await b.subscribe({
        deliver: (m) => {
          seen.push(m.seq);
          if (seen.length === 8) wake();
        },
      }, "ns.>");
      const all = new Promise<void>((r) => wake = r);
      // Created on node a: node b hears of it and follows it from its first message.
      await a.createNamespace("ns");
      const sent = [];
      for (let i = 0; i < 4; i++) sent.push(await a.publish({ channel: "ns.x", payload: json(i) }));
      await within(
        (async () => {
          while (!b.namespace("ns")) await new Promise((r) => setTimeout(r, 10));
        })(),
        10_000,
        "node b to open the namespace",
      );
      for (let i = 4; i < 8; i++) {
        sent.push(await (i % 2 ? a : b).publish({ channel: "ns.x", payload: json(i) }));
      }
      await within(all, 10_000, "every message on node b");
      assert.deepEqual(sent.map((m) => m.seq), range(1, 8));
      assert.deepEqual(seen, range(1, 8));
      const first = await a.publish({ channel: "ns.x", payload: json("k"), key: "k" });
      const again = await b.publish({ channel: "ns.x", payload: json("k"), key: "k" });
      assert.equal(again.duplicate, true);
      assert.deepEqual([again.epoch, again.seq], [first.epoch, first.seq]);
      const stored: number[] = [];
      for await (const batch of a.read(a.namespace("ns")!, 1)) {
        stored.push(...batch.map((m) => m.seq));
      }
      assert.deepEqual(stored, range(1, 9));
    } finally {
      await e.dispose();
    }
  },
});

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

Deno.test({
  name: "stream engine valkey - a message whose live publication never came is read from the " +
    "stream by the periodic check",
  ignore: !url,
  async fn() {
    const e = await valkeyEngine({ checkIntervalMs: 100 });
    try {
      const b = followingHub(e.engine);
      await b.createNamespace("ns");
      await b.publish({ channel: "ns.x", payload: json(1) });
      const got = Promise.withResolvers<number>();
      await b.subscribe({ deliver: (m) => got.resolve(m.seq) }, "ns.>");
      // Another node's append whose publication went nowhere (a stalled live channel).
      const writer = new Redis(url!);
      try {
        const keys = new NamespaceKeys(e.prefix, "ns");
        const silent = Object.create(keys, { live: { value: `${e.prefix}nowhere` } });
        const ns = b.namespace("ns")!;
        const appended = await new ValkeyCommands(writer).append(
          silent,
          "unused",
          { epoch: ns.epoch, seq: 1 },
          { dedupeWindowMs: 0, maxLen: 0 },
          [{
            data: encodeStored({
              channel: "ns.x",
              id: "m2",
              binary: false,
              payload: json(2),
              expiresAt: 0,
              key: "",
            }),
          }],
        );
        assert.deepEqual(appended.results, [2]);
        assert.equal(await within(got.promise, 10_000, "the message on the periodic check"), 2);
      } finally {
        writer.disconnect();
      }
    } finally {
      await e.dispose();
    }
  },
});

Deno.test({
  name:
    "stream engine valkey - namespace N+1 in the engine is refused with limit_exceeded, on any node",
  ignore: !url,
  async fn() {
    const e = await valkeyEngine({ maxNamespaces: 2 });
    try {
      const [a, b] = [followingHub(e.engine), followingHub(await e.crashed())];
      await a.createNamespace("one");
      await b.createNamespace("two");
      for (const node of [a, b]) {
        await assert.rejects(
          node.createNamespace("three"),
          (err: CatbusError) =>
            err.code === ErrorCode.LimitExceeded && /--max-namespaces 2/.test(err.message),
        );
      }
      await b.createNamespace("one");
    } finally {
      await e.dispose();
    }
  },
});
