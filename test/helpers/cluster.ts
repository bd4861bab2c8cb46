/**
 * Several catbusd nodes on one shared engine: the raw-connection steps every cluster test takes,
 * and the scenarios every engine must pass (a publish reaching every node, a client resuming on
 * another node after a kill -9, a publisher retrying with its dedupe keys).
 */
import assert from "node:assert/strict";
import { CatbusClient, type ConsumedMessage } from "../../client/mod.ts";
import { tcpTransport } from "../../client/deno-tcp.ts";
import { FrameType } from "../../client/shared/frame.ts";
import type { TestServer } from "./catbusd.ts";
import { within } from "./deadline.ts";
import { nativeClient } from "./native.ts";
import { AsyncQueue } from "./queue.ts";
import { json, RawConnection, type ReceivedFrame } from "./raw.ts";

export const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A raw TCP connection to `node`, said hello to with its admin key. */
export async function connect(node: TestServer): Promise<RawConnection> {
  const c = await RawConnection.connect(node.tcpPort);
  await c.hello(node.adminKey);
  return c;
}

/** Subscribes `c` to `feed.>` (or `start.pattern`) and checks it was accepted. */
export async function subscribe(c: RawConnection, start: Record<string, unknown> = {}) {
  const ok = await c.reply(await c.send(FrameType.Subscribe, { pattern: "feed.>", ...start }));
  assert.equal(ok.type, FrameType.Ok, JSON.stringify(ok.json));
  return ok.json as { recovered: boolean; namespaces: Record<string, { recovered: boolean }> };
}

/** Publishes `value` as JSON to `channel` (with a dedupe `key`); the server's answer. */
export async function publish(
  c: RawConnection,
  value: unknown,
  key?: string,
  channel = "feed.x",
): Promise<ReceivedFrame> {
  return await c.reply(
    await c.send(FrameType.Publish, { channel, ...key ? { key } : {} }, json(value)),
  );
}

export interface Received {
  seq: number;
  epoch: string;
  value: unknown;
}

/** The next `n` messages `c` receives. */
export async function receive(c: RawConnection, n: number): Promise<Received[]> {
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

/** Resolves once the node's /ready answers `status` (polled: it is the node's outside view). */
export async function readiness(node: TestServer, status: number): Promise<void> {
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

/**
 * Runs `fn` on `n` fresh nodes sharing one engine (started with `args` too); stops them and
 * removes the data after.
 */
export type WithCluster = (
  n: number,
  fn: (nodes: TestServer[]) => Promise<void>,
  args?: string[],
) => Promise<void>;

/**
 * The scenarios every shared engine passes, as tests named "cluster <engine> - …" (`ignore`
 * when its engine is unreachable).
 */
export function clusterScenarios(engine: string, withCluster: WithCluster, ignore: boolean) {
  Deno.test({
    name: `cluster ${engine} - a publish on node 2 reaches subscribers on nodes 1 and 3 in ` +
      "order, without duplicates (TCP and WebSocket)",
    ignore,
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
    name: `cluster ${engine} - kill -9 node 1 during a stream: its client resumes on node 2 ` +
      "with recovered:true and contiguous seq",
    ignore,
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
    name: `cluster ${engine} - a publisher whose node dies retries on another with its dedupe ` +
      "keys: each message stored once",
    ignore,
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
}

/**
 * A durable consumer's pump moves when its lease holder dies (`args` make the lease short), and
 * at-least-once holds across the move.
 */
export function clusterLeaseScenario(
  engine: string,
  withCluster: WithCluster,
  ignore: boolean,
  args: string[],
) {
  Deno.test({
    name: `cluster ${engine} - a consumer's lease holder is killed: the lease moves, unacked ` +
      "messages are redelivered, nothing acked is redelivered",
    ignore,
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
          await m.ack(); // answered once the state with this ack is in the engine
          acked.add(m.payload as number);
        }

        // A member on node 2, served from node 1 while node 1 holds the lease (its acks are not
        // in `acked`: only the holder's member's are).
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
                // Node 2 hears of the consumer through the engine: not_found until it has.
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
      }, args);
    },
  });
}

/** Consumes `name` through `client`, retrying while its node has not heard of the consumer yet. */
async function consumeWhenKnown(
  client: CatbusClient,
  name: string,
  handler: (m: ConsumedMessage) => Promise<void>,
): Promise<void> {
  await within(
    (async () => {
      for (;;) {
        try {
          return void await client.consume(name, handler);
        } catch (e) {
          // A node hears of the consumer through the engine: not_found until it has.
          if (!/not_found|no consumer/.test(String(e))) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })(),
    15_000,
    `the node to know consumer "${name}"`,
  );
}

export function clusterMembersScenario(
  engine: string,
  withCluster: WithCluster,
  ignore: boolean,
  args: string[],
) {
  Deno.test({
    name: `cluster ${engine} - a member on a node without the lease gets a share, acked ` +
      "through the holder; its node killed, its unacked messages are redelivered",
    ignore,
    async fn() {
      await withCluster(2, async ([n1, n2]) => {
        const setup = await nativeClient(n1);
        await setup.publish("jobs.work", 0);
        // A long ack wait: the dead node's deliveries come back because it is gone, not late.
        await setup.createConsumer({
          name: "w",
          pattern: "jobs.>",
          from: "first",
          maxInFlight: 20,
          ackWait: 60_000,
        });
        /** Every delivery, once acked (or held): which member got which message. */
        const deliveries = new AsyncQueue<{ member: 1 | 2; n: number }>();
        const times = new Map<number, number>();
        const take = async () => {
          const d = await deliveries.next("delivery", 20_000);
          times.set(d.n, (times.get(d.n) ?? 0) + 1);
          return d;
        };

        // Member 1 on node 1: its first delivery says node 1 holds the lease.
        const first = await nativeClient(n1);
        await consumeWhenKnown(first, "w", async (m) => {
          await m.ack();
          deliveries.push({ member: 1, n: m.payload as number });
        });
        assert.deepEqual(await take(), { member: 1, n: 0 });

        // Member 2 on node 2 acks what it gets, until told to hold on.
        const second = new CatbusClient({
          url: n2.tcpUrl,
          token: n2.adminKey,
          transport: tcpTransport(),
          autoReconnect: false,
        });
        await second.connect();
        let holding = false;
        await consumeWhenKnown(second, "w", async (m) => {
          if (holding) {
            deliveries.push({ member: 2, n: m.payload as number });
            return new Promise(() => {}); // never settled
          }
          await m.ack();
          deliveries.push({ member: 2, n: m.payload as number });
        });

        // Batches until member 2 had a share (node 2 lists it with node 1 first).
        let next = 1;
        let shared = 0;
        while (shared === 0) {
          assert.ok(next < 200, "member 2 got no share of 200 messages");
          const end = next + 10;
          for (; next < end; next++) await setup.publish("jobs.work", next);
          for (let i = 0; i < 10; i++) if ((await take()).member === 2) shared++;
        }
        // Round robin from now on: both get some of the next batch.
        const batch = new Set<number>();
        for (const end = next + 10; next < end; next++) await setup.publish("jobs.work", next);
        for (let i = 0; i < 10; i++) batch.add((await take()).member);
        assert.deepEqual([...batch].sort(), [1, 2]);

        // Member 2 holds its share of the next ten unacked; then node 2 dies.
        holding = true;
        const heldFrom = next;
        for (const end = next + 10; next < end; next++) await setup.publish("jobs.work", next);
        const held: number[] = [];
        for (let i = 0; i < 10; i++) {
          const d = await take();
          if (d.member === 2) held.push(d.n);
        }
        assert.ok(held.length > 0, "member 2 holds unacked deliveries");
        await n2.crash();
        await second.disconnect();
        await within(
          (async () => {
            for (const _ of held) {
              const d = await take();
              assert.equal(d.member, 1);
              assert.ok(held.includes(d.n), `#${d.n} came again, though it was acked`);
            }
          })(),
          30_000,
          "the dead node's unacked deliveries to be redelivered on node 1",
        );
        // Anything acked that came again would come before this one.
        await setup.publish("jobs.work", next);
        assert.deepEqual(await take(), { member: 1, n: next });
        for (let n = 0; n <= next; n++) {
          const expected = n >= heldFrom && held.includes(n) ? 2 : 1;
          assert.equal(times.get(n), expected, `#${n} delivered ${times.get(n) ?? 0} times`);
        }
        await first.disconnect();
        await setup.disconnect();
      }, args);
    },
  });
}
