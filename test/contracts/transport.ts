/**
 * The contract every client transport keeps, run against a real catbusd: one suite, one test
 * file per transport (as Hono runs one router suite against every router). A transport that
 * passes it can carry the native protocol: bytes arrive whole and in order, a fast sender and a
 * replay wait for the reader instead of losing anything, a publisher that outruns the log is
 * paced (the server stops reading), not refused, an oversize frame is refused without
 * ending the connection, a close ends the server's session, and the client reconnects and
 * resumes after the server went away.
 */
import assert from "node:assert/strict";
import { CatbusClient, type CatbusError, type Transport } from "../../client/mod.ts";
import { startCatbusd, type TestServer } from "../helpers/catbusd.ts";
import { within } from "../helpers/deadline.ts";
import { nativeClient } from "../helpers/native.ts";
import { AsyncQueue } from "../helpers/queue.ts";

export interface TransportUnderTest {
  /** As in test names: "TCP", "WebSocket", "WebTransport", "SSE+POST". */
  name: string;
  make(): Transport;
  /** The URL this transport connects to. */
  url(server: TestServer): string;
}

interface Received {
  channel: string;
  payload: unknown;
  seq: number;
}

/** A client on the transport under test; its messages go into the returned queue. */
async function clientOn(
  subject: TransportUnderTest,
  server: TestServer,
  options: { token?: string; autoReconnect?: boolean; reconnectDelay?: number } = {},
) {
  const client = new CatbusClient({
    url: subject.url(server),
    token: options.token ?? server.adminKey,
    transport: subject.make(),
    autoReconnect: options.autoReconnect ?? false,
    reconnectDelay: options.reconnectDelay,
  });
  const states = new AsyncQueue<string>();
  client.onStateChange(states.push);
  const errors = new AsyncQueue<CatbusError>();
  client.onError(errors.push);
  await within(client.connect(), 15_000, `${subject.name} connecting`);
  const received = new AsyncQueue<Received>();
  const handler = (channel: string, payload: unknown, meta: { seq: number }) =>
    received.push({ channel, payload, seq: meta.seq });
  return { client, states, errors, received, handler };
}

/** Waits until `state` is reported (states before it are skipped). */
async function untilState(states: AsyncQueue<string>, state: string, what: string) {
  while (await states.next(what) !== state) { /* an earlier state */ }
}

/** A port free on 127.0.0.1 now (TCP; the WebTransport listener takes the same number on UDP). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export function transportContract(subject: TransportUnderTest): void {
  const test = (behaviour: string, fn: () => Promise<void>) =>
    Deno.test(`transport contract (${subject.name}) - ${behaviour}`, fn);

  test("a message round-trips, its own and another client's", async () => {
    await using server = await startCatbusd();
    const me = await clientOn(subject, server);
    const other = await nativeClient(server);
    await me.client.subscribe("room.>", me.handler);
    await me.client.publish("room.a", { from: "self" });
    await other.publish("room.a", { from: "other" });
    assert.deepEqual((await me.received.next("own message")).payload, { from: "self" });
    assert.deepEqual((await me.received.next("other's message")).payload, { from: "other" });
    await Promise.all([me.client.disconnect(), other.disconnect()]);
  });

  test("a burst of sends arrives whole and in order, both ways", async () => {
    await using server = await startCatbusd();
    const me = await clientOn(subject, server);
    const other = await nativeClient(server);
    const seen = new AsyncQueue<unknown>();
    await other.subscribe("burst.>", (_c, payload) => seen.push(payload));
    await me.client.subscribe("burst.>", me.handler);
    await me.client.publish("burst.init", -1);
    assert.equal(await seen.next("the first message"), -1);
    assert.equal((await me.received.next("the first message")).payload, -1);
    // Payloads of growing size, so frames straddle the transport's chunks and messages.
    const payloads = Array.from({ length: 200 }, (_, i) => ({ i, pad: "x".repeat(i * 37) }));
    for (const p of payloads) me.client.send("burst.up", p);
    for (const p of payloads) assert.deepEqual(await seen.next(`sent message ${p.i}`), p);
    for (const p of payloads) other.send("burst.down", p);
    for (const p of payloads) {
      assert.deepEqual((await me.received.next(`received message ${p.i}`)).payload, p);
    }
    await Promise.all([me.client.disconnect(), other.disconnect()]);
  });

  test("a sender past --max-publishes-in-flight is read on later, not refused: every publish is stored", async () => {
    await using server = await startCatbusd(["--max-publishes-in-flight", "4"]);
    const me = await clientOn(subject, server);
    for (let i = 0; i < 3000; i++) me.client.send("app.flood", i);
    // Answered after every publish sent before it: its position counts them.
    const last = await within(me.client.publish("app.flood", "last"), 30_000, "the last publish");
    assert.equal(last.seq, 3001);
    assert.equal(me.errors.size, 0, "nothing refused");
    await me.client.disconnect();
  });

  test("a replay larger than the outbound queue waits for the reader and loses nothing", async () => {
    await using server = await startCatbusd(["--outbound-bytes", "128KiB"]);
    const publisher = await nativeClient(server);
    const big = "y".repeat(32 * 1024);
    for (let i = 0; i < 40; i++) await publisher.publish("big.x", { i, big });
    const me = await clientOn(subject, server);
    await me.client.subscribe("big.>", me.handler, { from: "first" });
    for (let i = 0; i < 40; i++) {
      const m = await me.received.next(`replayed message ${i}`);
      assert.deepEqual([m.seq, (m.payload as { i: number }).i], [i + 1, i]);
    }
    await publisher.publish("big.x", { i: 40, big });
    assert.equal((await me.received.next("the live message")).seq, 41, "then live, no gap");
    await Promise.all([me.client.disconnect(), publisher.disconnect()]);
  });

  test("an oversize payload or frame is refused with too_large; the connection goes on", async () => {
    await using server = await startCatbusd(["--max-payload", "1KiB"]);
    const me = await clientOn(subject, server);
    await me.client.subscribe("size.>", me.handler);
    // Over the payload limit, and over the frame limit (payload limit + 64 KiB) too.
    for (const bytes of [2 * 1024, 100 * 1024]) {
      await assert.rejects(
        within(me.client.publish("size.x", "z".repeat(bytes)), 10_000, `a ${bytes}-byte publish`),
        (e: CatbusError) => {
          assert.equal(e.code, "too_large", `${bytes} bytes: ${e.message}`);
          return true;
        },
      );
    }
    await me.client.publish("size.x", "fits");
    assert.equal((await me.received.next("the message that fits")).payload, "fits");
    assert.equal(me.client.connectionState, "connected");
    await me.client.disconnect();
  });

  test("a client's close ends its session on the server; a server's close reaches the client", async () => {
    await using server = await startCatbusd();
    const me = await clientOn(subject, server);
    await me.client.subscribe("svc.echo", me.handler);
    const caller = await nativeClient(server);
    await me.client.disconnect();
    assert.equal(me.client.connectionState, "disconnected");
    await assert.rejects(me.client.publish("svc.x", 1), "a publish after close is refused");
    // The server notices the end on its own time: ask until the subscription is gone.
    await within(
      (async () => {
        for (;;) {
          const answer = await caller.request("svc.echo", null, { timeout: 200 }).catch((e) => e);
          if ((answer as CatbusError).code === "no_responders") return;
        }
      })(),
      10_000,
      "the server dropping the closed connection's subscription",
    );
    // The server ends a session whose token expired: the client is told why and stays down.
    const token = (await server.cli(["grant", "-p", "read", "x.>", "--expires", "3s"])).stdout
      .split("\n")[0];
    const expiring = await clientOn(subject, server, { token, autoReconnect: true });
    const error = await expiring.errors.next("the expiry error", 10_000);
    assert.equal(error.code, "unauthorized");
    await untilState(expiring.states, "disconnected", "the disconnected state");
    await Promise.all([expiring.client.disconnect(), caller.disconnect()]);
  });

  test("after the server restarts the client reconnects by itself and resumes", async () => {
    const data = await Deno.makeTempDir({ prefix: "catbus-test-" });
    const ports = ["--bind", `127.0.0.1:${freePort()}`, "--tcp-bind", `127.0.0.1:${freePort()}`];
    try {
      let server = await startCatbusd(ports, { data });
      const me = await clientOn(subject, server, { autoReconnect: true, reconnectDelay: 100 });
      await me.client.subscribe("feed.>", me.handler);
      const publisher = await nativeClient(server);
      await publisher.publish("feed.x", 1);
      assert.equal((await me.received.next("the first message")).seq, 1);
      await publisher.disconnect();
      await server.stop();
      await untilState(me.states, "reconnecting", "the reconnecting state");
      server = await startCatbusd(ports, { data });
      // Published while the client may still be away: the resume brings it, exactly once.
      const again = await nativeClient(server);
      await again.publish("feed.x", 2);
      await untilState(me.states, "connected", "the reconnect");
      const m = await me.received.next("the message after the restart");
      assert.deepEqual([m.payload, m.seq], [2, 2]);
      await Promise.all([me.client.disconnect(), again.disconnect()]);
      await server.stop();
    } finally {
      await Deno.remove(data, { recursive: true }).catch(() => {});
    }
  });
}
