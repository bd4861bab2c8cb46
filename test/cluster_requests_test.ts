/**
 * Requests, replies, confirmations and the node list across catbusd nodes on one Valkey (the
 * request/reply scenario shared with the PostgreSQL engine is in helpers/cluster-requests.ts): real
 * processes on free ports, the shared test Valkey under a key prefix of each test's own.
 */
import assert from "node:assert/strict";
import { CatbusClient } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { post } from "./helpers/bus.ts";
import { within } from "./helpers/deadline.ts";
import { nativeClient } from "./helpers/native.ts";
import { openSse } from "./helpers/sse.ts";
import { startPrivateCluster, valkeyOrSkip } from "./helpers/valkey.ts";
import { startValkeyNodes, withValkeyNodes } from "./helpers/valkey-nodes.ts";
import {
  answer,
  answered,
  clusterRequestScenario,
  eventually,
  isCode,
  noResponders,
  welcomeNodes,
} from "./helpers/cluster-requests.ts";

const url = await valkeyOrSkip("the cross-node request tests");

clusterRequestScenario(
  "valkey",
  (n, fn, args) => withValkeyNodes(url!, n, fn, args),
  !url,
);

Deno.test({
  name: "cluster requests - a responder's node killed: its subscriptions stop counting once its " +
    "listing expires (--node-ttl)",
  ignore: !url,
  async fn() {
    await withValkeyNodes(url!, 2, async ([n1, n2]) => {
      const requester = await nativeClient(n1);
      await requester.publish("svc.init", null);
      const service = new CatbusClient({
        url: n2.tcpUrl,
        token: n2.adminKey,
        transport: tcpTransport(),
        autoReconnect: false,
      });
      await service.connect();
      await service.subscribe("svc.ping", (_c, _p, meta) => answer(service.respond(meta, "pong")));
      assert.deepEqual(await answered(requester, "svc.ping", null), { value: "pong" });
      await n2.crash();
      await service.disconnect();
      await noResponders(requester, "svc.ping", 20_000);
      await requester.disconnect();
    }, ["--node-ttl", "1500ms"]);
  },
});

Deno.test({
  name: "cluster requests - a Bus requester on node 1 gets the answer of a native responder on " +
    "node 2 in its _bus_ inbox",
  ignore: !url,
  async fn() {
    await withValkeyNodes(url!, 2, async ([n1, n2]) => {
      const service = await nativeClient(n2);
      await service.publish("math.init", null);
      const replies: Promise<unknown>[] = [];
      await service.subscribe("math.add", (_c, payload, meta) => {
        const { a, b } = payload as { a: number; b: number };
        replies.push(service.respond(meta, { result: a + b }));
      });
      const inbox = await openSse(`${n1.busUrl}/?subject=_bus_.r1`);
      // Node 1 learns of the responder through Valkey: a request before that has none.
      await eventually("node 1 to take the Bus request", async () => {
        const r = await post(n1, {
          subject: "math.add",
          response_subject: "_bus_.r1",
          payload: { a: 10, b: 20 },
        });
        await r.body?.cancel();
        return r.status === 202 ? true : undefined;
      });
      assert.deepEqual(JSON.parse((await inbox.next()).data).payload, { result: 30 });
      await Promise.all(replies);
      await inbox.close();
      await service.disconnect();
    });
  },
});

Deno.test({
  name: "cluster requests - a publish on node 1 that waits for acks is confirmed by a consumer " +
    "whose member is on node 2, or times out",
  ignore: !url,
  async fn() {
    await withValkeyNodes(url!, 2, async ([n1, n2]) => {
      const publisher = await nativeClient(n1);
      await publisher.publish("pay.init", null);
      await publisher.createConsumer({ name: "payments", pattern: "pay.done", from: "new" });
      const member = await nativeClient(n2);
      const seen: number[] = [];
      await eventually("node 2 to know the consumer", async () => {
        try {
          await member.consume("payments", (m) => void seen.push(m.payload as number));
          return true;
        } catch (e) {
          if (/not_found|no consumer/.test(String(e))) return undefined;
          throw e;
        }
      });
      const stored = await publisher.publish("pay.done", 1, { confirm: 1, confirmTimeout: 10_000 });
      assert.equal(typeof stored.seq, "number");
      assert.ok(seen.includes(1), "the member on node 2 got the message before the confirmation");
      await assert.rejects(
        publisher.publish("pay.done", 2, { confirm: 2, confirmTimeout: 300 }),
        isCode("timeout"),
      );
      await member.disconnect();
      await publisher.disconnect();
    });
  },
});

Deno.test({
  name: "cluster requests - the welcome lists the live nodes' URLs (--advertise-url, or the " +
    "WebSocket listener); a node that stops leaves the list",
  ignore: !url,
  async fn() {
    await withValkeyNodes(url!, 1, async ([n1], prefix) => {
      const [n2] = await startValkeyNodes(
        [url!],
        prefix,
        ["--advertise-url", "wss://n2.example.com,wss://n2.example.net:8443/ws"],
      );
      const own = n1.wsUrl.replace(/\/ws$/, "");
      const both = [own, "wss://n2.example.com", "wss://n2.example.net:8443/ws"].sort();
      await eventually("node 1 to list node 2", async () => {
        const nodes = (await welcomeNodes(n1)).sort();
        return JSON.stringify(nodes) === JSON.stringify(both) ? true : undefined;
      });
      assert.deepEqual((await welcomeNodes(n2)).sort(), both);
      await n2.stop();
      await eventually("node 1 to drop node 2", async () => {
        const nodes = await welcomeNodes(n1);
        return JSON.stringify(nodes) === JSON.stringify([own]) ? true : undefined;
      });
    }, ["--node-ttl", "1500ms"]);
  },
});

Deno.test({
  name: "cluster requests - on a 3-master Redis Cluster (--valkey-cluster): a publish on node 2 " +
    "reaches node 1 through shard channels, and a request on node 1 gets node 2's reply",
  ignore: !url,
  async fn() {
    const redis = await startPrivateCluster(3);
    if (!redis) return;
    try {
      const nodes = await startValkeyNodes([redis.url, redis.url], "catbus:", ["--valkey-cluster"]);
      try {
        const [n1, n2] = nodes;
        const service = await nativeClient(n2);
        await service.publish("svc.init", null);
        await service.subscribe("svc.echo", (_c, payload, meta) => {
          answer(service.respond(meta, payload));
        });
        const requester = await nativeClient(n1);
        const feed: unknown[] = [];
        const fed = Promise.withResolvers<void>();
        await eventually("node 1 to open the namespace", async () => {
          try {
            await requester.subscribe("svc.feed", (_c, payload) => {
              feed.push(payload);
              if (feed.length === 3) fed.resolve();
            });
            return true;
          } catch {
            return undefined;
          }
        });
        for (let i = 1; i <= 3; i++) await service.publish("svc.feed", i);
        await within(fed.promise, 15_000, "the messages on node 1");
        assert.deepEqual(feed, [1, 2, 3]);
        assert.deepEqual(await answered(requester, "svc.echo", "hi"), { value: "hi" });
        await requester.disconnect();
        await service.disconnect();
      } finally {
        for (const node of nodes) await node.stop();
      }
    } finally {
      await redis.stop();
    }
  },
});
