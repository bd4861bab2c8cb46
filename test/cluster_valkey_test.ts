/**
 * Several catbusd nodes on one Valkey: real processes on free ports, a real Redis (the shared
 * test server under a key prefix of each test's own, or a private one a test restarts).
 */
import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import type { TestServer } from "./helpers/catbusd.ts";
import { RawConnection, type ReceivedFrame } from "./helpers/raw.ts";
import {
  clusterLeaseScenario,
  clusterMembersScenario,
  clusterScenarios,
  connect,
  publish,
  range,
  readiness,
  receive,
  subscribe,
} from "./helpers/cluster.ts";
import { startCuttableProxy } from "./helpers/proxy.ts";
import { sample, scrape } from "./helpers/prometheus.ts";
import { startPrivateRedis, valkeyOrSkip } from "./helpers/valkey.ts";
import { startValkeyNodes, withValkeyNodes } from "./helpers/valkey-nodes.ts";

const url = await valkeyOrSkip("the Valkey cluster tests");

/** A cluster for one test; its nodes are stopped and its keys deleted afterwards. */
const withCluster = (
  n: number | string[],
  fn: (nodes: TestServer[], prefix: string) => Promise<void>,
  args: string[] = [],
) => withValkeyNodes(url!, n, fn, args);

clusterScenarios("valkey", withCluster, !url);

/** Two nodes on a private redis-server (started with `args`); stopped and removed afterwards. */
async function withPrivateRedis(
  args: string[],
  fn: (
    redis: NonNullable<Awaited<ReturnType<typeof startPrivateRedis>>>,
    nodes: TestServer[],
  ) => Promise<void>,
) {
  const redis = await startPrivateRedis(args);
  if (!redis) return;
  try {
    const nodes = await startValkeyNodes([redis.url, redis.url], "catbus:");
    try {
      await fn(redis, nodes);
    } finally {
      for (const node of nodes) await node.stop();
    }
  } finally {
    await redis.stop();
  }
}

Deno.test(
  "cluster valkey - Valkey restarted without persistence: /ready is 503 and publishes fail with " +
    "unavailable while it is down; then a new epoch, and a resume is not recovered",
  async () => {
    await withPrivateRedis([], async (redis, [n1, n2]) => {
      const publisher = await connect(n1);
      let last: ReceivedFrame | undefined;
      for (let i = 1; i <= 10; i++) last = await publish(publisher, i);
      const before = { epoch: last!.json.epoch as string, seq: 10 };
      const live = await connect(n2);
      await subscribe(live, { from: "first" });
      assert.deepEqual((await receive(live, 10)).map((m) => m.seq), range(1, 10));
      await readiness(n1, 200);

      await redis.kill();
      await readiness(n1, 503);
      await readiness(n2, 503);
      const metrics = await scrape(`${n1.httpUrl}/metrics`);
      assert.equal(sample(metrics, "catbus_engine_up"), 0, "the engine is down, says /metrics");
      const refused = await publish(publisher, "while down");
      assert.equal(refused.type, FrameType.Error);
      assert.equal(refused.json.code, "unavailable");

      await redis.start();
      await readiness(n1, 200);
      await readiness(n2, 200);
      const after = await publish(publisher, "after");
      assert.equal(after.type, FrameType.Ok, JSON.stringify(after.json));
      assert.notEqual(after.json.epoch, before.epoch);
      for (const node of [n1, n2]) {
        const resumed = await connect(node);
        const ok = await subscribe(resumed, { resume: { feed: before } });
        assert.equal(ok.recovered, false, `resume on ${node.httpUrl}`);
        resumed.close();
      }
      const [next] = await receive(live, 1);
      assert.deepEqual([next.epoch, next.value], [after.json.epoch, "after"]);
      publisher.close();
      live.close();
    });
  },
);

Deno.test(
  "cluster valkey - Valkey with appendonly yes and appendfsync always killed -9: nothing lost, " +
    "the epoch stays, a resume is recovered",
  async () => {
    await withPrivateRedis(
      ["--appendonly", "yes", "--appendfsync", "always"],
      async (redis, [n1, n2]) => {
        const publisher = await connect(n1);
        let last: ReceivedFrame | undefined;
        for (let i = 1; i <= 10; i++) last = await publish(publisher, i);
        const before = { epoch: last!.json.epoch as string, seq: 5 };
        await redis.kill({ crash: true });
        await readiness(n2, 503);
        await redis.start();
        await readiness(n1, 200);
        await readiness(n2, 200);
        const after = await publish(publisher, 11);
        assert.deepEqual([after.json.epoch, after.json.seq], [before.epoch, 11]);
        const resumed = await connect(n2);
        const ok = await subscribe(resumed, { resume: { feed: before } });
        assert.equal(ok.recovered, true);
        assert.deepEqual((await receive(resumed, 6)).map((m) => m.value), range(6, 11));
        publisher.close();
        resumed.close();
      },
    );
  },
);

Deno.test({
  name:
    "cluster valkey - a node's Valkey connection cut for 2 s: it resubscribes and fills the gap",
  ignore: !url,
  async fn() {
    const proxy = startCuttableProxy(Number(new URL(url!).port || 6379));
    try {
      const viaProxy = `redis://127.0.0.1:${proxy.port}`;
      await withCluster([viaProxy, url!], async ([n1, n2]) => {
        const publisher = await connect(n2);
        await publish(publisher, 1);
        const sub = await connect(n1);
        await subscribe(sub, { from: "first" });
        assert.deepEqual((await receive(sub, 1)).map((m) => m.seq), [1]);
        proxy.down();
        await readiness(n1, 503);
        const cut = new Promise((resolve) => setTimeout(resolve, 2_000));
        for (let i = 2; i <= 30; i++) await publish(publisher, i);
        await cut;
        proxy.up();
        await readiness(n1, 200);
        const filled = await receive(sub, 29);
        assert.deepEqual(filled.map((m) => m.seq), range(2, 30));
        await publish(publisher, 31);
        assert.deepEqual((await receive(sub, 1)).map((m) => m.value), [31]);
        publisher.close();
        sub.close();
      });
    } finally {
      proxy.close();
    }
  },
});

Deno.test({
  name: "cluster valkey - catbus revoke and role delete reach connections on all three nodes",
  ignore: !url,
  async fn() {
    await withCluster(3, async (nodes, prefix) => {
      const env = {
        CATBUS_ENGINE: "valkey",
        CATBUS_VALKEY_URL: url!,
        CATBUS_VALKEY_PREFIX: prefix,
      };
      const cli = async (...args: string[]) => {
        const out = await nodes[0].cli(args, env);
        assert.equal(out.code, 0, out.stderr);
        return out.stdout;
      };
      const role = (await cli("role", "create", "--name", "Reader")).split("\n")[0];
      await cli("grant", "-p", "all", "feed.>", "--to", role);
      const connections = [];
      for (const node of nodes) {
        const c = await RawConnection.connect(node.tcpPort);
        assert.equal((await c.hello(role)).type, FrameType.Welcome);
        await subscribe(c);
        connections.push(c);
      }
      // Made with the first node's data directory: the role is in Valkey, so every node has it.
      await cli("revoke", "-p", "read", "feed.>", "--from", role);
      for (const c of connections) {
        const notice = await c.next((f) => f.type === FrameType.Notice, "the revoked notice");
        assert.deepEqual([notice.json.event, notice.json.pattern], ["revoked", "feed.>"]);
      }
      await cli("role", "delete", role);
      for (const c of connections) {
        const bye = await c.next((f) => f.type === FrameType.Error && f.id === 0, "the close");
        assert.equal(bye.json.code, "revoked");
        await c.untilClosed();
      }
    });
  },
});

clusterLeaseScenario("valkey", withCluster, !url, ["--valkey-consumer-lease", "1500ms"]);
clusterMembersScenario("valkey", withCluster, !url, [
  "--valkey-consumer-lease",
  "1500ms",
  "--node-ttl",
  "2s",
]);
