import assert from "node:assert/strict";
import { CatbusClient, websocketTransport } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";
import { json, RawConnection } from "./helpers/raw.ts";
import { encodeFrame, FrameType } from "../client/shared/frame.ts";
import { concat } from "../client/shared/bytes.ts";

type Received = { channel: string; payload: unknown; seq: number };

/** Collects messages and lets a test await the n-th one. */
function inbox() {
  const got: Received[] = [];
  let waiters: (() => void)[] = [];
  return {
    got,
    handler: (channel: string, payload: unknown, meta: { seq: number }) => {
      got.push({ channel, payload, seq: meta.seq });
      waiters.forEach((w) => w());
      waiters = [];
    },
    async count(n: number) {
      await within(
        (async () => {
          while (got.length < n) await new Promise<void>((r) => waiters.push(r));
        })(),
        15_000,
        `${n} messages`,
      );
      return got.slice(0, n);
    },
  };
}

async function clients(server: TestServer) {
  const ws = new CatbusClient({ url: server.wsUrl, token: server.adminKey });
  const tcp = new CatbusClient({
    url: server.tcpUrl,
    token: server.adminKey,
    transport: tcpTransport(),
  });
  await Promise.all([ws.connect(), tcp.connect()]);
  return { ws, tcp };
}

Deno.test("pubsub - WebSocket and TCP clients see each other's messages", async () => {
  await using server = await startCatbusd();
  const { ws, tcp } = await clients(server);
  const onWs = inbox(), onTcp = inbox();
  await ws.subscribe("chat.>", onWs.handler);
  await tcp.subscribe("chat.>", onTcp.handler);
  await ws.publish("chat.room1", { from: "ws" });
  await tcp.publish("chat.room1", { from: "tcp" });
  const bytes = new Uint8Array([0, 1, 2, 255]);
  await tcp.publish("chat.blob", bytes);
  for (const box of [onWs, onTcp]) {
    const [a, b, c] = await box.count(3);
    assert.deepEqual([a.payload, b.payload], [{ from: "ws" }, { from: "tcp" }]);
    assert.deepEqual([a.seq, b.seq, c.seq], [1, 2, 3]);
    assert.deepEqual(c.payload, bytes);
  }
  await Promise.all([ws.disconnect(), tcp.disconnect()]);
});

Deno.test("pubsub - wildcard routing: * is one token, > is one or more, each subscription once", async () => {
  await using server = await startCatbusd();
  const { ws, tcp } = await clients(server);
  const star = inbox(), tail = inbox(), exact = inbox();
  await ws.subscribe("app.*.created", star.handler);
  await ws.subscribe("app.>", tail.handler);
  await ws.subscribe("app.eu.created", exact.handler);
  for (
    const channel of [
      "app.eu.created",
      "app.us.created",
      "app.eu.created.late",
      "app",
      "other.eu.created",
    ]
  ) {
    await tcp.publish(channel, channel);
  }
  // A marker that every subscription sees last, so we know nothing else is on its way.
  await tcp.publish("app.zz.created", "end");
  assert.deepEqual((await star.count(3)).map((m) => m.channel), [
    "app.eu.created",
    "app.us.created",
    "app.zz.created",
  ]);
  assert.deepEqual((await tail.count(4)).map((m) => m.channel), [
    "app.eu.created",
    "app.us.created",
    "app.eu.created.late",
    "app.zz.created",
  ]);
  assert.equal(exact.got.length, 1);
  assert.equal(star.got.length, 3);
  assert.equal(tail.got.length, 4);
  await Promise.all([ws.disconnect(), tcp.disconnect()]);
});

Deno.test("pubsub - concurrent publishes to one channel each get their own ack", async () => {
  await using server = await startCatbusd();
  const { ws, tcp } = await clients(server);
  const acks = await Promise.all(
    Array.from(
      { length: 200 },
      (_, i) => (i % 2 ? ws : tcp).publish("load.same", { i }),
    ),
  );
  assert.deepEqual(
    acks.map((a) => a.seq).sort((a, b) => a - b),
    Array.from({ length: 200 }, (_, i) => i + 1),
  );
  assert.equal(new Set(acks.map((a) => a.id)).size, 200);
  await Promise.all([ws.disconnect(), tcp.disconnect()]);
});

Deno.test("pubsub - fire-and-forget sends arrive in order; a refused one is reported, not fatal", async () => {
  await using server = await startCatbusd();
  const { ws, tcp } = await clients(server);
  const box = inbox();
  await ws.subscribe("fast.>", box.handler);
  await tcp.publish("fast.init", 0);
  for (let i = 1; i <= 100; i++) tcp.send("fast.x", i);
  const errors: string[] = [];
  const refused = Promise.withResolvers<void>();
  tcp.onError((e) => {
    errors.push(e.code);
    refused.resolve();
  });
  tcp.send("$sys.nope", 1);
  await within(refused.promise, 10_000, "the refusal of a publish to $sys");
  assert.deepEqual(errors, ["forbidden"]);
  const got = await box.count(101);
  assert.deepEqual(got.map((m) => m.payload), Array.from({ length: 101 }, (_, i) => i));
  assert.equal(tcp.connectionState, "connected");
  await Promise.all([ws.disconnect(), tcp.disconnect()]);
});

Deno.test("pubsub - the client runs on an injected WebSocket class (Node 20 with the ws package)", async () => {
  const { WebSocket: NodeWebSocket } = await import("ws");
  await using server = await startCatbusd();
  const c = new CatbusClient({
    url: server.wsUrl,
    token: server.adminKey,
    transport: websocketTransport({ WebSocket: NodeWebSocket as unknown as typeof WebSocket }),
  });
  await c.connect();
  const box = inbox();
  await c.subscribe("node.>", box.handler);
  await c.publish("node.x", { via: "ws package" });
  assert.deepEqual((await box.count(1))[0].payload, { via: "ws package" });
  await c.disconnect();
});

Deno.test("pubsub - the publishes of one write to an ephemeral namespace are answered in order, before a ping after them", async () => {
  await using server = await startCatbusd();
  // Memory only: each publish is delivered and answered as its batch is handled (a stored one
  // is answered once durable, which a ping does not wait for).
  assert.equal((await server.cli(["namespace", "add", "batch", "--ephemeral"])).code, 0);
  const pub = await RawConnection.connect(server.tcpPort);
  await pub.hello(server.adminKey);
  const sub = await RawConnection.connect(server.tcpPort);
  await sub.hello(server.adminKey);
  await pub.reply(await pub.send(FrameType.Publish, { channel: "batch.first" }, json(0)));
  await sub.reply(await sub.send(FrameType.Subscribe, { pattern: "batch.>" }));
  const frames = [
    encodeFrame(FrameType.Publish, 0, { channel: "batch.a" }, json(1)),
    encodeFrame(FrameType.Publish, 11, { channel: "batch.b" }, json(2)),
    encodeFrame(FrameType.Publish, 0, { channel: "batch..bad" }, json(3)),
    encodeFrame(FrameType.Publish, 12, { channel: "batch.c" }, json(4)),
    encodeFrame(FrameType.Ping, 13),
  ];
  await pub.write(concat(frames));
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await pub.next(() => true));
  assert.deepEqual(answers.map((f) => [f.type, f.id]), [
    [FrameType.Ok, 11],
    [FrameType.Notice, 0],
    [FrameType.Ok, 12],
    [FrameType.Pong, 13],
  ]);
  assert.deepEqual([answers[0].json.seq, answers[2].json.seq], [3, 4]);
  assert.equal(answers[1].json.event, "publish_failed");
  assert.equal(answers[1].json.channel, "batch..bad");
  const delivered = [];
  for (let i = 0; i < 3; i++) {
    const m = await sub.next((f) => f.type === FrameType.Message);
    delivered.push([m.json.channel, m.json.seq]);
  }
  assert.deepEqual(delivered, [["batch.a", 2], ["batch.b", 3], ["batch.c", 4]]);
  pub.close();
  sub.close();
});
