import { json } from "./helpers/raw.ts";
import assert from "node:assert/strict";
import { ValkeyEngine } from "../src/streams/valkey/valkey-engine.ts";
import { NamespaceKeys } from "../src/streams/valkey/keys.ts";
import { ValkeyCommands } from "../src/streams/valkey/commands.ts";
import { encodeStored } from "../src/streams/record.ts";
import { Redis } from "iovalkey";
import { type EngineOptions, runStreamEngineContract } from "./contracts/stream-engine.ts";
import { runSharedEngineContract } from "./contracts/shared-engine.ts";
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

if (url) {
  runStreamEngineContract("valkey", valkeyEngine);
  runSharedEngineContract("valkey", valkeyEngine);
}

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
