/**
 * Several catbusd nodes on one Valkey: real processes on free ports, a real Redis (the shared
 * test server under a key prefix of each test's own, or a private one a test restarts).
 */
import assert from "node:assert/strict";
import { CatbusClient, type ConsumedMessage } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { nativeClient } from "./helpers/native.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";
import { json, RawConnection, type ReceivedFrame } from "./helpers/raw.ts";
import { startCuttableProxy } from "./helpers/proxy.ts";
import { sample, scrape } from "./helpers/prometheus.ts";
import { deleteKeys, startPrivateRedis, uniquePrefix, valkeyOrSkip } from "./helpers/valkey.ts";

const url = await valkeyOrSkip("the Valkey cluster tests");

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** One catbusd node per URL (the same Valkey, or a way to it), sharing streams under `prefix`. */
async function startNodes(
  valkeys: string[],
  prefix: string,
  args: string[] = [],
): Promise<TestServer[]> {
  const nodes: TestServer[] = [];
  for (const valkey of valkeys) {
    nodes.push(
      await startCatbusd([
        "--engine",
        "valkey",
        "--valkey-url",
        valkey,
        "--valkey-prefix",
        prefix,
        "--no-webtransport",
        ...args,
      ]),
    );
  }
  return nodes;
}

/** A cluster for one test; its nodes are stopped and its keys deleted afterwards. */
async function withCluster(
  n: number | string[],
  fn: (nodes: TestServer[], prefix: string) => Promise<void>,
  args: string[] = [],
) {
  const prefix = uniquePrefix("cluster");
  const nodes = await startNodes(typeof n === "number" ? Array(n).fill(url!) : n, prefix, args);
  try {
    await fn(nodes, prefix);
  } finally {
    for (const node of nodes) await node.stop();
    await deleteKeys(url!, prefix);
  }
}

async function connect(node: TestServer): Promise<RawConnection> {
  const c = await RawConnection.connect(node.tcpPort);
  await c.hello(node.adminKey);
  return c;
}

async function subscribe(c: RawConnection, start: Record<string, unknown> = {}) {
  const ok = await c.reply(await c.send(FrameType.Subscribe, { pattern: "feed.>", ...start }));
  assert.equal(ok.type, FrameType.Ok, JSON.stringify(ok.json));
  return ok.json as { recovered: boolean; namespaces: Record<string, { recovered: boolean }> };
}

async function publish(c: RawConnection, value: unknown, key?: string): Promise<ReceivedFrame> {
  return await c.reply(
    await c.send(FrameType.Publish, { channel: "feed.x", ...key ? { key } : {} }, json(value)),
  );
}

interface Received {
  seq: number;
  epoch: string;
  value: unknown;
}

/** The next `n` messages `c` receives. */
async function receive(c: RawConnection, n: number): Promise<Received[]> {
  const out: Received[] = [];
  while (out.length < n) {
    const m = await c.next((f) => f.type === FrameType.Message, `message ${out.length + 1}/${n}`);
    out.push({
      seq: m.json.seq as number,
      epoch: m.json.epoch as string,
      value: JSON.parse(new TextDecoder().decode(m.data)),
    });
  }
  return out;
}

Deno.test({
  name: "cluster valkey - a publish on node 2 reaches subscribers on nodes 1 and 3 in order, " +
    "without duplicates (TCP and WebSocket)",
  ignore: !url,
  async fn() {
    await withCluster(3, async ([n1, n2, n3]) => {
      const [s1, s3] = [await connect(n1), await connect(n3)];
      // The namespace does not exist yet: node 2 creates it with its first publish.
      await subscribe(s1);
      await subscribe(s3);
      const ws: number[] = [];
      const wsDone = Promise.withResolvers<void>();
      const client = new CatbusClient({ url: n3.wsUrl, token: n3.adminKey });
      await client.connect();
      await client.subscribe("feed.>", (_channel, value) => {
        ws.push(value as number);
        if (ws.length === 51) wsDone.resolve();
      });
      const publisher = await connect(n2);
      const acks: number[] = [];
      for (let i = 1; i <= 50; i++) acks.push((await publish(publisher, i)).json.seq as number);
      assert.deepEqual(acks, range(1, 50));
      // One more after the 50: what follows the 50 on each node is it, so nothing came twice.
      await publish(publisher, 51);
      for (const s of [s1, s3]) {
        const got = await receive(s, 51);
        assert.deepEqual(got.map((m) => m.seq), range(1, 51));
        assert.deepEqual(got.map((m) => m.value), range(1, 51));
        assert.equal(new Set(got.map((m) => m.epoch)).size, 1);
      }
      await within(wsDone.promise, 15_000, "the WebSocket subscriber's 51 messages");
      assert.deepEqual(ws, range(1, 51));
      for (const c of [s1, s3, publisher]) c.close();
      await client.disconnect();
    });
  },
});

Deno.test({
  name: "cluster valkey - kill -9 node 1 during a stream: its client resumes on node 2 with " +
    "recovered:true and contiguous seq",
  ignore: !url,
  async fn() {
    await withCluster(2, async ([n1, n2]) => {
      const publisher = await connect(n2);
      await publish(publisher, 0); // creates the namespace
      const sub = await connect(n1);
      await subscribe(sub, { from: "first" });
      const total = 200;
      const publishing = (async () => {
        for (let i = 1; i < total; i++) await publish(publisher, i);
      })();
      const before = await receive(sub, 40);
      await n1.crash();
      const last = before[before.length - 1];
      assert.deepEqual(before.map((m) => m.seq), range(1, 40));
      const resumed = await connect(n2);
      const ok = await subscribe(resumed, {
        resume: { feed: { epoch: last.epoch, seq: last.seq } },
      });
      assert.equal(ok.recovered, true);
      await within(publishing, 30_000, "the publisher");
      const after = await receive(resumed, total - last.seq);
      assert.deepEqual(after.map((m) => m.seq), range(last.seq + 1, total));
      assert.deepEqual(after.map((m) => m.value), range(last.seq, total - 1));
      publisher.close();
      resumed.close();
    });
  },
});

Deno.test({
  name: "cluster valkey - a publisher whose node dies retries on another with its dedupe keys: " +
    "each message stored once",
  ignore: !url,
  async fn() {
    await withCluster(2, async ([n1, n2]) => {
      const first = await connect(n1);
      for (let i = 0; i < 15; i++) {
        assert.equal((await publish(first, i, `k${i}`)).type, FrameType.Ok);
      }
      // Ten more in flight when the node dies: some may be stored, none is acknowledged.
      for (let i = 15; i < 25; i++) {
        await first.send(FrameType.Publish, { channel: "feed.x", key: `k${i}` }, json(i));
      }
      await n1.crash();
      const retry = await connect(n2);
      const answers = [];
      for (let i = 0; i < 40; i++) answers.push((await publish(retry, i, `k${i}`)).json);
      for (let i = 0; i < 15; i++) assert.equal(answers[i].duplicate, true, `k${i} was acked`);
      const reader = await connect(n2);
      await subscribe(reader, { from: "first" });
      const stored = await receive(reader, 40);
      assert.deepEqual(stored.map((m) => m.seq), range(1, 40));
      assert.deepEqual(
        stored.map((m) => m.value).sort((a, b) => Number(a) - Number(b)),
        range(0, 39),
      );
      // Nothing after the 40: the next message is a new one.
      await publish(retry, "end");
      assert.deepEqual((await receive(reader, 1)).map((m) => m.value), ["end"]);
      first.close();
      retry.close();
      reader.close();
    });
  },
});

/** Resolves once the node's /ready answers `status` (polled: it is the node's outside view). */
async function readiness(node: TestServer, status: number): Promise<void> {
  await within(
    (async () => {
      for (;;) {
        const r = await fetch(`${node.httpUrl}/ready`);
        await r.body?.cancel();
        if (r.status === status) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })(),
    30_000,
    `/ready of ${node.httpUrl} to answer ${status}`,
  );
}

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
    const nodes = await startNodes([redis.url, redis.url], "catbus:");
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

Deno.test({
  name: "cluster valkey - a consumer's lease holder is killed: the lease moves, unacked messages " +
    "are redelivered, nothing acked is redelivered",
  ignore: !url,
  async fn() {
    await withCluster(2, async ([n1, n2]) => {
      const setup = await nativeClient(n1);
      for (let i = 1; i <= 20; i++) await setup.publish("jobs.work", i);
      await setup.createConsumer({ name: "w", pattern: "jobs.>", from: "first", maxInFlight: 5 });
      await setup.disconnect();

      const holder = new CatbusClient({
        url: n1.tcpUrl,
        token: n1.adminKey,
        transport: tcpTransport(),
        autoReconnect: false,
      });
      await holder.connect();
      const deliveries = new AsyncQueue<ConsumedMessage>();
      // Settled by hand: the handler never finishes, so nothing is acked automatically.
      await holder.consume("w", (m) => {
        deliveries.push(m);
        return new Promise(() => {});
      });
      const acked = new Set<number>();
      while (acked.size < 8) {
        const m = await deliveries.next();
        await m.ack(); // answered once the state with this ack is in Valkey
        acked.add(m.payload as number);
      }

      // A member on node 2 waits while node 1 holds the lease.
      const standby = await nativeClient(n2);
      const after: number[] = [];
      const sentinel = Promise.withResolvers<void>();
      await within(
        (async () => {
          for (;;) {
            try {
              return await standby.consume("w", (m) => {
                const n = m.payload as number;
                if (n === 21) sentinel.resolve();
                else after.push(n);
              });
            } catch (e) {
              // Node 2 hears of the consumer through Valkey: not_found until it has.
              if (!/not_found|no consumer/.test(String(e))) throw e;
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        })(),
        15_000,
        "node 2 to know the consumer",
      );
      assert.ok(deliveries.size > 0, "node 1 holds unacked deliveries");
      await n1.crash();
      await holder.disconnect();

      const publisher = await nativeClient(n2);
      await publisher.publish("jobs.work", 21);
      await within(sentinel.promise, 30_000, "node 2 to take the lease and deliver");
      for (const n of after) assert.ok(!acked.has(n), `#${n} was acked on node 1`);
      for (let n = 1; n <= 20; n++) {
        assert.ok(acked.has(n) || after.includes(n), `#${n} was neither acked nor redelivered`);
      }
      await standby.disconnect();
      await publisher.disconnect();
    }, ["--valkey-consumer-lease", "1500ms"]);
  },
});
