import assert from "node:assert/strict";
import { within } from "../../test/helpers/deadline.ts";
import { CatbusError } from "../shared/errors.ts";
import { encodeFrame, type Frame, FrameDecoder, FrameType, parseMeta } from "../shared/frame.ts";
import { CatbusClient } from "./client.ts";
import type { Transport, TransportHandlers } from "./transport.ts";

/** A scripted server: records what the client sends and lets the test answer. */
class FakeServer implements Transport {
  connections = 0;
  handlers?: TransportHandlers;
  received: (Frame & { json: Record<string, unknown> })[] = [];
  #waiters: (() => void)[] = [];
  refuse = false;
  /** Like a frozen server: closing never completes, so the transport reports no close. */
  frozen = false;

  /** The URL of every attempt. */
  urls: string[] = [];

  connect(url: string, handlers: TransportHandlers) {
    this.urls.push(url);
    if (this.refuse) return Promise.reject(new Error("connection refused"));
    this.connections++;
    this.handlers = handlers;
    const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
    return Promise.resolve({
      send: (bytes: Uint8Array) =>
        decoder.push(bytes, (e) => {
          if (e.kind !== "frame") throw new Error("client sent garbage");
          const f = {
            ...e.frame,
            meta: e.frame.meta.slice(),
            data: e.frame.data.slice(),
          };
          this.received.push({ ...f, json: parseMeta(f) });
          this.#waiters.splice(0).forEach((w) => w());
        }),
      close: () => {
        if (!this.frozen) queueMicrotask(() => handlers.onClose());
      },
    });
  }

  /** The next frame of `type` the client sent; fails after 10 s. */
  next(type: number) {
    return within(
      (async () => {
        for (;;) {
          const i = this.received.findIndex((f) => f.type === type);
          if (i >= 0) return this.received.splice(i, 1)[0];
          await new Promise<void>((r) => this.#waiters.push(r));
        }
      })(),
      10_000,
      `a frame of type ${type} from the client`,
    );
  }

  send(type: number, id: number, meta?: unknown, data?: Uint8Array) {
    this.handlers!.onData(encodeFrame(type, id, meta, data));
  }

  /** Answers the next hello with a welcome. */
  async welcome() {
    const hello = await this.next(FrameType.Hello);
    this.send(FrameType.Welcome, hello.id, {
      version: 1,
      server: "fake",
      clientId: "c1",
      maxPayload: 1024,
      heartbeat: 60_000,
    });
    return hello;
  }

  drop() {
    this.handlers!.onClose();
  }
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const message = (
  channel: string,
  seq: number,
  payload: unknown,
  epoch = "e1",
) =>
  [
    FrameType.Message,
    0,
    { channel, seq, epoch, id: `id${seq}`, time: seq },
    json(payload),
  ] as const;

async function connected(
  options: Partial<ConstructorParameters<typeof CatbusClient>[0]> = {},
) {
  const server = new FakeServer();
  const client = new CatbusClient({
    url: "ws://fake",
    token: "t",
    transport: server,
    reconnectDelay: 1,
    maxReconnectDelay: 2,
    ...options,
  });
  const done = client.connect();
  await server.welcome();
  await done;
  return { server, client };
}

Deno.test("client - a refused token rejects connect with its code and does not reconnect", async () => {
  const server = new FakeServer();
  const client = new CatbusClient({
    url: "ws://fake",
    token: "bad",
    transport: server,
  });
  const done = client.connect();
  const hello = await server.next(FrameType.Hello);
  server.send(FrameType.Error, hello.id, {
    code: "unauthorized",
    message: "invalid token",
  });
  await assert.rejects(
    done,
    (e: unknown) => e instanceof CatbusError && e.code === "unauthorized",
  );
  assert.equal(client.connectionState, "disconnected");
  assert.equal(server.connections, 1);
});

Deno.test("client - overlapping patterns each get a message once, replays are not repeated", async () => {
  const { server, client } = await connected();
  const a: number[] = [], b: number[] = [];
  const subA = client.subscribe("app.>", (_c, p) => a.push(p as number));
  const s1 = await server.next(FrameType.Subscribe);
  server.send(FrameType.Ok, s1.id, {
    pattern: "app.>",
    recovered: true,
    namespaces: {},
  });
  await subA;
  const subB = client.subscribe("app.*", (_c, p) => b.push(p as number));
  const s2 = await server.next(FrameType.Subscribe);
  server.send(FrameType.Ok, s2.id, {
    pattern: "app.*",
    recovered: true,
    namespaces: {},
  });
  await subB;
  server.send(...message("app.x", 1, 1));
  server.send(...message("app.x.y", 2, 2));
  server.send(...message("app.x", 1, 1)); // a replay of something already seen
  assert.deepEqual([a, b], [[1, 2], [1]]);
  await client.disconnect();
});

Deno.test("client - after a drop it resubscribes with resume and reports recovery", async () => {
  const { server, client } = await connected();
  const seen: number[] = [];
  const recovery = Promise.withResolvers<boolean>();
  const sub = client.subscribe("app.>", (_c, p) => seen.push(p as number), {
    onRecovery: (i) => recovery.resolve(i.recovered),
  });
  const s1 = await server.next(FrameType.Subscribe);
  server.send(FrameType.Ok, s1.id, {
    pattern: "app.>",
    recovered: true,
    namespaces: { app: { epoch: "e1", seq: 4, recovered: true, replayed: 0 } },
  });
  await sub;
  server.send(...message("app.x", 5, 5));
  server.drop();
  await server.welcome();
  const again = await server.next(FrameType.Subscribe);
  assert.deepEqual(again.json, {
    pattern: "app.>",
    resume: { app: { epoch: "e1", seq: 5 } },
  });
  server.send(...message("app.x", 6, 6));
  server.send(FrameType.Ok, again.id, {
    pattern: "app.>",
    recovered: false,
    namespaces: { app: { epoch: "e2", seq: 9, recovered: false, replayed: 0 } },
  });
  assert.equal(
    await within(recovery.promise, 10_000, "the recovery report"),
    false,
  );
  assert.deepEqual(seen, [5, 6]);
  await client.disconnect();
});

Deno.test("client - publishes wait offline in a bounded queue and go out on reconnect", async () => {
  const { server, client } = await connected({ maxQueueSize: 2 });
  server.refuse = true;
  server.drop();
  const p1 = client.publish("app.a", 1);
  const p2 = client.publish("app.b", 2);
  await assert.rejects(
    client.publish("app.c", 3),
    (e: unknown) => e instanceof CatbusError && e.code === "offline_queue_full",
  );
  server.refuse = false;
  await server.welcome();
  for (const expected of ["app.a", "app.b"]) {
    const f = await server.next(FrameType.Publish);
    assert.equal(f.json.channel, expected);
    server.send(FrameType.Ok, f.id, { epoch: "e", seq: 1, id: "x", time: 1 });
  }
  assert.equal((await p1).seq, 1);
  assert.equal((await p2).seq, 1);
  await client.disconnect();
  await assert.rejects(
    client.publish("app.d", 4),
    (e: unknown) => e instanceof CatbusError && e.code === "disconnected",
  );
});

Deno.test("client - a gap notice resubscribes with resume; a revoked notice ends the subscription", async () => {
  const { server, client } = await connected();
  const errors: string[] = [];
  const sub = client.subscribe("app.>", () => {}, {
    onError: (e) => errors.push(e.code),
  });
  const s1 = await server.next(FrameType.Subscribe);
  server.send(FrameType.Ok, s1.id, {
    pattern: "app.>",
    recovered: true,
    namespaces: { app: { epoch: "e1", seq: 3, recovered: true, replayed: 0 } },
  });
  await sub;
  server.send(FrameType.Notice, 0, {
    event: "gap",
    code: "slow_consumer",
    namespace: "app",
    epoch: "e1",
    after: 3,
    recovered: false,
  });
  const resub = await server.next(FrameType.Subscribe);
  assert.deepEqual(resub.json.resume, { app: { epoch: "e1", seq: 3 } });
  server.send(FrameType.Notice, 0, {
    event: "revoked",
    code: "revoked",
    pattern: "app.>",
    message: "grant withdrawn",
  });
  assert.deepEqual(errors, ["revoked"]);
  await client.disconnect();
});

Deno.test("client - a revoked consumer binding is reported and not bound again on reconnect", async () => {
  const { server, client } = await connected();
  const errors: string[] = [];
  client.onError((e) => errors.push(e.code));
  const consuming = client.consume("worker", () => {});
  const bind = await server.next(FrameType.Consume);
  server.send(FrameType.Ok, bind.id, { name: "worker", ackPolicy: "explicit" });
  await consuming;
  server.send(FrameType.Notice, 0, {
    event: "revoked",
    code: "revoked",
    pattern: "jobs.>",
    consumer: "worker",
    message: "grant withdrawn",
  });
  assert.deepEqual(errors, ["revoked"]);
  server.drop();
  await server.welcome();
  // Frames leave in order: once this publish arrives, a re-bind would have come before it.
  client.publish("app.after", 1).catch(() => {});
  await server.next(FrameType.Publish);
  assert.equal(
    server.received.filter((f) => f.type === FrameType.Consume).length,
    0,
  );
  await client.disconnect();
});

Deno.test("client - a rejected async handler is reported through onError, not left unhandled", async () => {
  const { server, client } = await connected();
  const reported = Promise.withResolvers<string>();
  client.onError((e) => reported.resolve(e.message));
  const sub = client.subscribe(
    "app.>",
    () => Promise.reject(new Error("boom")),
  );
  const s = await server.next(FrameType.Subscribe);
  server.send(FrameType.Ok, s.id, {
    pattern: "app.>",
    recovered: true,
    namespaces: {},
  });
  await sub;
  server.send(...message("app.x", 1, 1));
  assert.match(
    await within(reported.promise, 10_000, "the handler error"),
    /boom/,
  );
  await client.disconnect();
});

Deno.test("client - a connection that stops answering pings is dropped and re-established", async () => {
  const { server, client } = await connected({ pingInterval: 5 });
  // The fake server never answers the ping: the client gives up on the connection and reconnects.
  await server.next(FrameType.Ping);
  await server.welcome();
  assert.equal(server.connections, 2);
  await client.disconnect();
});

Deno.test("client - disconnect() during connect() drops the connection being opened", async () => {
  let opened = 0;
  let closed = 0;
  let release!: () => void;
  const slow: Transport = {
    async connect() {
      await new Promise<void>((r) => release = r);
      opened++;
      return { send: () => {}, close: () => closed++ };
    },
  };
  const client = new CatbusClient({ url: "ws://unused", transport: slow });
  const connecting = client.connect();
  assert.equal(
    client.connect(),
    connecting,
    "a second connect joins the first",
  );
  await client.disconnect();
  release();
  await assert.rejects(
    connecting,
    (e: unknown) => e instanceof CatbusError && e.code === "disconnected",
  );
  assert.deepEqual([opened, closed], [1, 1]);
  assert.equal(client.connectionState, "disconnected");
});

Deno.test("client - a request whose reply times out before its publish is answered fails cleanly", async () => {
  const { server, client } = await connected();
  const requesting = client.request("svc.slow", 1, { timeout: 1 });
  // The inbox subscription is answered; the publish is left waiting past the reply timeout.
  const subscribe = await server.next(FrameType.Subscribe);
  server.send(FrameType.Ok, subscribe.id, {
    pattern: subscribe.json.pattern,
    recovered: true,
    namespaces: {},
  });
  const publish = await server.next(FrameType.Publish);
  await new Promise((r) => setTimeout(r, 20)); // the 1 ms reply timeout fires meanwhile
  server.send(FrameType.Ok, publish.id, {
    epoch: "e1",
    seq: 1,
    id: "x",
    time: 1,
  });
  await assert.rejects(
    requesting,
    (e: unknown) => e instanceof CatbusError && e.code === "timeout",
  );
  await client.disconnect();
});

Deno.test("client - an expiring notice hands getToken's token over the open connection", async () => {
  const tokens = ["t2", "t3"];
  const { server, client } = await connected({
    getToken: () => tokens.shift()!,
  });
  const subscribed = client.subscribe("a.>", () => {});
  const sub = await server.next(FrameType.Subscribe);
  server.send(FrameType.Ok, sub.id, { namespaces: {} });
  await subscribed;
  server.send(FrameType.Notice, 0, {
    event: "expiring",
    expiresAt: 1,
    message: "soon",
  });
  const refresh = await server.next(FrameType.Refresh);
  assert.deepEqual(refresh.json, { token: "t2" });
  server.send(FrameType.Ok, refresh.id, { expiresAt: 2 });
  assert.equal(server.connections, 1, "no reconnect");
  assert.equal(client.connectionState, "connected");
  await client.disconnect();
});

Deno.test("client - a refused refresh is reported; the reconnect takes a fresh token and is not final", async () => {
  let calls = 0;
  const errors: string[] = [];
  const { server, client } = await connected({
    getToken: () => `fresh-${++calls}`,
  });
  client.onError((e) => errors.push(e.code));
  server.send(FrameType.Notice, 0, {
    event: "expiring",
    expiresAt: 1,
    message: "soon",
  });
  const refresh = await server.next(FrameType.Refresh);
  server.send(FrameType.Error, refresh.id, {
    code: "unauthorized",
    message: "refused",
  });
  server.drop(); // the server closes after a refused refresh
  // The reconnect is refused too (say the backend minted a bad one): still not final.
  const refused = await server.next(FrameType.Hello);
  assert.equal(refused.json.token, "fresh-2");
  server.send(FrameType.Error, refused.id, {
    code: "unauthorized",
    message: "token expired",
  });
  const hello = await server.welcome();
  assert.equal(hello.json.token, "fresh-3");
  assert.deepEqual(errors, ["unauthorized", "unauthorized"]);
  assert.equal(client.connectionState, "connected");
  await client.disconnect();
});

Deno.test("client - a server that goes silent is dropped after two intervals, though its socket never closes", async () => {
  const { server, client } = await connected({ pingInterval: 20 });
  const errors: string[] = [];
  client.onError((e) => errors.push(e.code));
  server.frozen = true;
  await server.next(FrameType.Ping);
  await server.welcome();
  assert.equal(server.connections, 2);
  assert.deepEqual(errors, ["timeout"]);
  server.frozen = false;
  await client.disconnect();
});

/** Answers the next subscribe the client sends. */
async function confirmSubscribe(server: FakeServer) {
  const sub = await server.next(FrameType.Subscribe);
  server.send(FrameType.Ok, sub.id, { pattern: sub.json.pattern, recovered: true, namespaces: {} });
  return sub;
}

Deno.test("client - for await over subscribe() yields typed messages; leaving the loop unsubscribes", async () => {
  const { server, client } = await connected();
  const stream = client.subscribe<{ n: number }>("app.>");
  await confirmSubscribe(server);
  await stream.ready;
  server.send(...message("app.a", 1, { n: 1 }));
  server.send(...message("app.b", 2, { n: 2 }));
  const seen: number[] = [];
  for await (const { channel, payload, meta } of stream) {
    seen.push(payload.n);
    assert.equal(meta.channel, channel);
    if (seen.length === 2) break;
  }
  assert.deepEqual(seen, [1, 2]);
  const unsub = await server.next(FrameType.Unsubscribe);
  assert.equal(unsub.json.pattern, "app.>");
  await client.disconnect();
});

Deno.test("client - a stream that falls bufferSize behind ends with slow_consumer", async () => {
  const { server, client } = await connected();
  const stream = client.subscribe("app.>", { bufferSize: 2 });
  await confirmSubscribe(server);
  for (let i = 1; i <= 3; i++) server.send(...message("app.a", i, i));
  const got: unknown[] = [];
  await assert.rejects(
    (async () => {
      for await (const m of stream) got.push(m.payload);
    })(),
    (e: unknown) => e instanceof CatbusError && e.code === "slow_consumer",
  );
  assert.deepEqual(got, [1, 2], "what was buffered is read first");
  await client.disconnect();
});

Deno.test("client - an AbortSignal ends a subscription, a stream and a consume, and rejects a request and a connect", async () => {
  const { server, client } = await connected();
  const controller = new AbortController();
  const subscribed = client.subscribe("a.x", () => {}, { signal: controller.signal });
  await confirmSubscribe(server);
  await subscribed;
  const stream = client.subscribe("b.>", { signal: controller.signal });
  await confirmSubscribe(server);
  const loop = (async () => {
    for await (const _ of stream) { /* nothing arrives */ }
    return "ended";
  })();
  controller.abort();
  assert.equal(await loop, "ended");
  const unsubscribed = [
    await server.next(FrameType.Unsubscribe),
    await server.next(FrameType.Unsubscribe),
  ];
  assert.deepEqual(unsubscribed.map((f) => f.json.pattern).sort(), ["a.x", "b.>"]);

  const requestAbort = new AbortController();
  const requesting = client.request<string, number>("svc.time", "now", {
    signal: requestAbort.signal,
  });
  await confirmSubscribe(server); // the reply inbox
  const published = await server.next(FrameType.Publish);
  server.send(FrameType.Ok, published.id, { epoch: "e", seq: 1, id: "i", time: 1 });
  requestAbort.abort(new Error("user navigated away"));
  await assert.rejects(requesting, /user navigated away/);

  const consumeAbort = new AbortController();
  const consuming = client.consume("worker", () => {}, { signal: consumeAbort.signal });
  const bind = await server.next(FrameType.Consume);
  server.send(FrameType.Ok, bind.id, { name: "worker", ackPolicy: "explicit" });
  await consuming;
  consumeAbort.abort();
  assert.deepEqual((await server.next(FrameType.Stop)).json, { name: "worker" });
  await client.disconnect();

  const never = new FakeServer();
  const lone = new CatbusClient({ url: "ws://fake", token: "t", transport: never });
  const connectAbort = new AbortController();
  const connecting = lone.connect({ signal: connectAbort.signal });
  await never.next(FrameType.Hello); // never answered
  connectAbort.abort(new Error("gave up"));
  await assert.rejects(connecting, /gave up/);
  assert.equal(lone.connectionState, "disconnected");
});

Deno.test("client - the first connect keeps trying until the server answers, every URL in turn", async () => {
  const server = new FakeServer();
  server.refuse = true;
  const client = new CatbusClient({
    url: ["ws://a", "ws://b"],
    token: "t",
    transport: server,
    reconnectDelay: 1,
    maxReconnectDelay: 2,
  });
  const done = client.connect();
  await within(
    (async () => {
      while (server.urls.length < 4) await new Promise((r) => setTimeout(r, 1));
    })(),
    10_000,
    "four refused attempts",
  );
  assert.deepEqual(
    server.urls.slice(0, 2),
    ["ws://a", "ws://b"],
    "the configured order first",
  );
  assert.equal(client.connectionState, "connecting");
  server.refuse = false;
  await server.welcome();
  await done;
  assert.equal(client.connectionState, "connected");
  await client.disconnect();
});

Deno.test("client - connect({ retry: false }) rejects at the first failure, as autoReconnect: false does", async () => {
  const server = new FakeServer();
  server.refuse = true;
  const client = new CatbusClient({
    url: "ws://a",
    token: "t",
    transport: server,
  });
  await assert.rejects(client.connect({ retry: false }), /connection refused/);
  assert.equal(client.connectionState, "disconnected");
  const once = new CatbusClient({
    url: "ws://a",
    transport: server,
    autoReconnect: false,
  });
  await assert.rejects(once.connect(), /connection refused/);
  assert.equal(server.urls.length, 2);
});

Deno.test("client - after a drop it reconnects to the nodes the welcome advertised", async () => {
  const server = new FakeServer();
  const client = new CatbusClient({
    url: "ws://configured",
    token: "t",
    transport: server,
    reconnectDelay: 1,
    maxReconnectDelay: 2,
  });
  const done = client.connect();
  const hello = await server.next(FrameType.Hello);
  server.send(FrameType.Welcome, hello.id, {
    version: 1,
    server: "fake",
    clientId: "c1",
    maxPayload: 1024,
    heartbeat: 60_000,
    nodes: ["ws://n1", "ws://n2"],
  });
  await done;
  server.drop();
  await server.welcome();
  assert.ok(["ws://n1", "ws://n2"].includes(server.urls[1]), server.urls[1]);
  await client.disconnect();
});

Deno.test("client - history gathers the message frames of its request, then the page", async () => {
  const { server, client } = await connected();
  const page = client.history<{ n: number }>("chat.lobby", { limit: 2 });
  const asked = await server.next(FrameType.History);
  assert.deepEqual(asked.json, { channel: "chat.lobby", limit: 2 });
  for (const seq of [4, 5]) {
    server.send(
      FrameType.Message,
      asked.id,
      { channel: "chat.lobby", seq, epoch: "e1", id: `id${seq}`, time: seq },
      json({ n: seq }),
    );
  }
  server.send(FrameType.Ok, asked.id, { epoch: "e1", count: 2, next: 4 });
  const { messages, epoch, next } = await page;
  assert.deepEqual(messages.map((m) => m.payload.n), [4, 5]);
  assert.deepEqual([epoch, next], ["e1", 4]);
  await client.disconnect();
});

Deno.test("client - a presence subscription says so on every (re)subscribe and hears joins and leaves", async () => {
  const { server, client } = await connected();
  const events: string[] = [];
  const subscribing = client.subscribe("room.1", () => {}, {
    presence: true,
    onPresence: ({ event, member }) => events.push(`${event} ${member.clientId}`),
  });
  const sub = await server.next(FrameType.Subscribe);
  assert.deepEqual(sub.json, {
    pattern: "room.1",
    presence: true,
    joinLeave: true,
  });
  server.send(FrameType.Ok, sub.id, {
    pattern: "room.1",
    recovered: true,
    namespaces: {},
  });
  await subscribing;
  server.send(FrameType.Notice, 0, {
    event: "join",
    channel: "room.1",
    member: { clientId: "ada" },
  });
  server.send(FrameType.Notice, 0, {
    event: "leave",
    channel: "room.1",
    member: { clientId: "ada" },
  });
  assert.deepEqual(events, ["join ada", "leave ada"]);
  server.drop();
  await server.welcome();
  const again = await server.next(FrameType.Subscribe);
  assert.equal(again.json.presence, true, "a reconnect joins again");
  await assert.rejects(
    client.subscribe("room.>", () => {}, { presence: true }),
    (e: unknown) => e instanceof CatbusError && e.code === "bad_request",
  );
  await client.disconnect();
});

Deno.test("client - an AbortSignal ends a first connect that is still trying, and no attempt follows", async () => {
  const server = new FakeServer();
  server.refuse = true;
  const client = new CatbusClient({
    url: "ws://down",
    token: "t",
    transport: server,
    reconnectDelay: 1,
    maxReconnectDelay: 2,
  });
  const controller = new AbortController();
  const connecting = client.connect({ signal: controller.signal });
  await within(
    (async () => {
      while (server.urls.length < 2) await new Promise((r) => setTimeout(r, 1));
    })(),
    10_000,
    "two refused attempts",
  );
  controller.abort(new Error("gave up waiting"));
  await assert.rejects(connecting, /gave up waiting/);
  assert.equal(client.connectionState, "disconnected");
  const attempts = server.urls.length;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(server.urls.length, attempts, "no attempt after the abort");
});
