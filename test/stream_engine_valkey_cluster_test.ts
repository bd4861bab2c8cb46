import { json } from "./helpers/raw.ts";
import assert from "node:assert/strict";
import { Cluster } from "iovalkey";
import { within } from "./helpers/deadline.ts";
import { openRoleStore } from "../src/server/role-store.ts";
import { ValkeyEngine } from "../src/streams/valkey/valkey-engine.ts";
import { NamespaceKeys } from "../src/streams/valkey/keys.ts";
import { type EngineOptions, runStreamEngineContract } from "./contracts/stream-engine.ts";
import { runSharedEngineContract } from "./contracts/shared-engine.ts";
import { followingHub, startPrivateCluster } from "./helpers/valkey.ts";

/**
 * The Valkey engine on a 3-master Redis Cluster of the test's own: every namespace's keys carry
 * one hash tag, so each script runs on one shard while namespaces spread over the shards.
 */
async function clusterEngine(options: EngineOptions & { maxNamespaces?: number }) {
  const cluster = await startPrivateCluster(3);
  if (!cluster) throw new Error("no redis-server");
  const prefix = "catbus:";
  const open = () =>
    ValkeyEngine.connect({
      url: cluster.url,
      cluster: true,
      prefix,
      dedupeWindowMs: 120_000,
      retention: { maxAgeMs: 0, maxMessages: options.retainMessages ?? 0, maxBytes: 0 },
      checkIntervalMs: 1_000,
      maxNamespaces: options.maxNamespaces,
    });
  const engines = [await open()];
  return {
    url: cluster.url,
    engine: engines[0],
    crashed: async () => engines[engines.push(await open()) - 1],
    async loseRecords(namespace: string) {
      const keys = new NamespaceKeys(prefix, namespace);
      const client = new Cluster([new URL(cluster.url).host]);
      try {
        await client.del(keys.meta, keys.stream);
      } finally {
        client.disconnect();
      }
    },
    async dispose() {
      for (const engine of engines) await engine.close();
      await cluster.stop();
    },
  };
}

/** redis-server is there (a failure in CI when it is not), or a visible skip. */
async function haveRedisServer(): Promise<boolean> {
  try {
    await new Deno.Command("redis-server", { args: ["--version"], stdout: "null" }).output();
    return true;
  } catch (e) {
    if (Deno.env.get("CI") === "true") throw e;
    console.log("SKIPPED the Redis Cluster tests: no redis-server on PATH");
    return false;
  }
}

const available = await haveRedisServer();
if (available) {
  runStreamEngineContract("valkey cluster", clusterEngine);
  runSharedEngineContract("valkey cluster", clusterEngine);
}

Deno.test({
  name: "stream engine valkey cluster - two nodes: namespaces on every shard fan out to the other",
  ignore: !available,
  async fn() {
    const e = await clusterEngine({});
    try {
      const other = await e.crashed();
      const [a, b] = [followingHub(e.engine), followingHub(other)];
      const names = Array.from({ length: 6 }, (_, i) => `ns${i}`);
      const got = new Map<string, number[]>();
      let wake = () => {};
      await b.subscribe({
        deliver: (m) => {
          const ns = m.channel.split(".")[0];
          got.set(ns, [...got.get(ns) ?? [], m.seq]);
          wake();
        },
      }, ">");
      for (const name of names) {
        await a.createNamespace(name);
        for (let i = 0; i < 3; i++) await a.publish({ channel: `${name}.x`, payload: json(i) });
      }
      await within(
        (async () => {
          while (!names.every((n) => got.get(n)?.length === 3)) {
            await new Promise<void>((r) => wake = r);
          }
        })(),
        15_000,
        "every namespace's messages on node b",
      );
      for (const name of names) assert.deepEqual(got.get(name), [1, 2, 3]);
      const probe = new Cluster([new URL(e.url).host]);
      try {
        const slots = new Set<unknown>();
        for (const name of names) {
          slots.add(
            await probe.call("CLUSTER", "KEYSLOT", new NamespaceKeys("catbus:", name).meta),
          );
        }
        assert.ok(slots.size > 1, "the namespaces live in different slots");
        // The live channels are shard channels (SSUBSCRIBE), each on the shard of its slot.
        await probe.ping();
        const shardChannels: string[] = [];
        const plain: string[] = [];
        for (const master of probe.nodes("master")) {
          shardChannels.push(...await master.call("PUBSUB", "SHARDCHANNELS") as string[]);
          plain.push(...await master.call("PUBSUB", "CHANNELS", "*:live") as string[]);
        }
        for (const name of names) {
          assert.ok(
            shardChannels.includes(new NamespaceKeys("catbus:", name).live),
            `${name}'s live channel is a shard channel`,
          );
        }
        assert.deepEqual(plain, []);
      } finally {
        probe.disconnect();
      }
    } finally {
      await e.dispose();
    }
  },
});

Deno.test({
  name: "valkey cluster - roles: a change made through one store is heard by another's watch",
  ignore: !available,
  async fn() {
    const cluster = await startPrivateCluster(3);
    const where = {
      engine: "valkey",
      valkeyUrl: cluster!.url,
      valkeyPrefix: "catbus:",
      valkeyCluster: true,
      data: "",
    };
    const [writer, watcher] = [openRoleStore(where), openRoleStore(where)];
    try {
      const { token, role } = await writer.create("Reader");
      let heard = Promise.withResolvers<void>();
      const stop = watcher.watch(() => heard.resolve());
      await writer.addGrants(token, [{ permission: "read", pattern: "feed.>" }]);
      await within(heard.promise, 10_000, "the change");
      assert.deepEqual((await watcher.find(role.id))?.grants, [
        { permission: "read", pattern: "feed.>" },
      ]);
      heard = Promise.withResolvers<void>();
      await writer.delete(role.id);
      await within(heard.promise, 10_000, "the deletion");
      assert.equal(await watcher.find(token), undefined);
      stop();
    } finally {
      writer.close?.();
      watcher.close?.();
      await cluster!.stop();
    }
  },
});
