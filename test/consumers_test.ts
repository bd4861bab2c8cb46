import assert from "node:assert/strict";
import { CatbusClient, type ConsumedMessage } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { CatbusError } from "../client/shared/errors.ts";
import { grantToken, nativeClient } from "./helpers/native.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { AsyncQueue } from "./helpers/queue.ts";

const code = (expected: string) => (e: unknown) => e instanceof CatbusError && e.code === expected;

Deno.test("consumers - a failing handler gets the message again with the next attempt, then acks", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  await c.publish("orders.new", { id: 1 });
  await c.createConsumer({ name: "mailer", pattern: "orders.>", from: "first", ackWait: 60_000 });
  const attempts = new AsyncQueue<number>();
  await c.consume("mailer", (m) => {
    attempts.push(m.attempt);
    if (m.attempt === 1) throw new Error("smtp down"); // nak → redelivered at once
  });
  assert.equal(await attempts.next(), 1);
  assert.equal(await attempts.next(), 2);
  const [info] = await c.listConsumers();
  assert.equal(info.name, "mailer");
  await c.disconnect();
});

Deno.test("consumers - after max deliver the message is in the dead-letter channel with the reason", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  await c.publish("orders.new", { id: 7 });
  const letters = new AsyncQueue<{ payload: unknown; headers?: Record<string, string> }>();
  await c.subscribe(
    "$sys.dlq.>",
    (_ch, payload, meta) => letters.push({ payload, headers: meta.headers }),
  );
  await c.createConsumer({
    name: "flaky",
    pattern: "orders.>",
    from: "first",
    ackWait: 50,
    maxDeliver: 3,
  });
  const seen = new AsyncQueue<number>();
  // Never acks: the handler never finishes, so every ack wait runs out.
  await c.consume("flaky", (m) => {
    seen.push(m.attempt);
    return new Promise(() => {});
  });
  assert.deepEqual([await seen.next(), await seen.next(), await seen.next()], [1, 2, 3]);
  const letter = await letters.next();
  assert.deepEqual(letter.payload, { id: 7 });
  assert.equal(letter.headers?.["catbus-dlq-reason"], "max_deliver");
  assert.equal(letter.headers?.["catbus-dlq-attempts"], "3");
  assert.equal(letter.headers?.["catbus-dlq-consumer"], "flaky");
  await c.disconnect();
});

Deno.test("consumers - a queue group shares the work; a member that dies unacked hands it to a survivor", async () => {
  await using server = await startCatbusd();
  const admin = await nativeClient(server);
  await admin.publish("jobs.init", null);
  await admin.createConsumer({ name: "workers", pattern: "jobs.work", ackWait: 60_000 });
  const a = await nativeClient(server);
  const b = await nativeClient(server);
  const gotA = new AsyncQueue<ConsumedMessage>();
  const gotB = new AsyncQueue<ConsumedMessage>();
  // a holds its messages without acking; b acks.
  await a.consume("workers", (m) => {
    gotA.push(m);
    return new Promise(() => {});
  });
  await b.consume("workers", (m) => gotB.push(m));
  for (let i = 0; i < 20; i++) await admin.publish("jobs.work", i);
  const first: number[] = [];
  const held: number[] = [];
  while (first.length < 20) {
    const fromA = gotA.size > 0;
    const m = await (fromA ? gotA.next() : gotB.next());
    first.push(m.payload as number);
    if (fromA) held.push(m.payload as number);
  }
  assert.deepEqual([...first].sort((x, y) => x - y), [...Array(20).keys()], "each once");
  assert.ok(held.length > 0 && held.length < 20, "both members got work");
  await a.disconnect();
  const again: number[] = [];
  while (again.length < held.length) {
    const m = await gotB.next();
    assert.equal(m.attempt, 2);
    again.push(m.payload as number);
  }
  assert.deepEqual(again.sort((x, y) => x - y), held.sort((x, y) => x - y));
  await Promise.all([admin, b].map((c) => c.disconnect()));
});

Deno.test("consumers - consumer state survives a server restart", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-consumers-" });
  const first = await startCatbusd([], { data });
  const c1 = await nativeClient(first);
  for (let i = 1; i <= 3; i++) await c1.publish("jobs.work", i);
  await c1.createConsumer({ name: "w", pattern: "jobs.>", from: "first", ackWait: 60_000 });
  const got = new AsyncQueue<ConsumedMessage>();
  await c1.consume("w", (m) => {
    got.push(m);
    return new Promise(() => {}); // settled below, by hand
  });
  const one = await got.next();
  await got.next();
  await got.next();
  await one.ack(); // resolves once the state is saved
  await c1.disconnect();
  await first.stop();

  const second = await startCatbusd([], { data });
  const c2 = await nativeClient(second);
  const after = new AsyncQueue<ConsumedMessage>();
  await c2.consume("w", (m) => after.push(m));
  const redelivered = [await after.next(), await after.next()];
  assert.deepEqual(redelivered.map((m) => m.payload), [2, 3]);
  assert.deepEqual(redelivered.map((m) => m.attempt), [2, 2]);
  await c2.publish("jobs.work", 4);
  const fresh = await after.next();
  assert.deepEqual([fresh.payload, fresh.attempt], [4, 1]);
  await c2.disconnect();
  await second.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("consumers - confirm waits for N consumer acks, and times out with a clear error", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  await c.publish("orders.init", null);
  await c.createConsumer({ name: "a", pattern: "orders.>" });
  await c.createConsumer({ name: "b", pattern: "orders.>" });
  await c.consume("a", () => {});
  const other = await nativeClient(server);
  await other.consume("b", () => {});
  const stored = await c.publish("orders.paid", { id: 1 }, { confirm: 2 });
  assert.ok(stored.seq > 1);
  await assert.rejects(
    c.publish("orders.paid", { id: 2 }, { confirm: 3, confirmTimeout: 200 }),
    (e: unknown) => code("timeout")(e) && /only 2 of 3 consumer acks/.test((e as Error).message),
  );
  await Promise.all([c, other].map((x) => x.disconnect()));
});

Deno.test("consumers - bad requests are answered with codes and leave the connection usable", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  await c.publish("orders.init", null);
  await assert.rejects(c.consume("nope", () => {}), code("not_found"));
  await assert.rejects(
    c.createConsumer({ name: "bad name", pattern: "orders.>" }),
    code("bad_request"),
  );
  await assert.rejects(c.createConsumer({ name: "x", pattern: "*.orders" }), code("bad_request"));
  await c.createConsumer({ name: "x", pattern: "orders.>" });
  await assert.rejects(
    c.createConsumer({ name: "x", pattern: "orders.>", maxDeliver: 1 }),
    code("conflict"),
  );
  const reader = await nativeClient(
    server,
    (await server.cli(["grant", "-p", "read", "other.>"])).stdout.split("\n")[0],
  );
  await assert.rejects(reader.consume("x", () => {}), code("forbidden"));
  assert.equal(typeof (await c.ping()), "number");
  await Promise.all([c, reader].map((x) => x.disconnect()));
});

Deno.test("consumers - a consuming client that reconnects goes on consuming by itself", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-consume-reconnect-" });
  let server = await startCatbusd([], { data });
  const tcpBind = `127.0.0.1:${server.tcpPort}`;
  const worker = new CatbusClient({
    url: server.tcpUrl,
    token: server.adminKey,
    transport: tcpTransport(),
    reconnectDelay: 50,
    maxReconnectDelay: 200,
  });
  await worker.connect();
  await worker.publish("jobs.init", null);
  await worker.createConsumer({ name: "w", pattern: "jobs.work" });
  const got = new AsyncQueue<unknown>();
  // Acked before it is reported, so the restart cannot bring it back (at-least-once).
  await worker.consume("w", async (m) => {
    await m.ack();
    got.push(m.payload);
  });
  await worker.publish("jobs.work", 1);
  assert.equal(await got.next(), 1);
  const reconnected = new AsyncQueue<string>();
  worker.onStateChange((s) => s === "connected" && reconnected.push(s));
  await server.stop();
  server = await startCatbusd(["--tcp-bind", tcpBind], { data });
  await reconnected.next();
  const publisher = await nativeClient(server);
  await publisher.publish("jobs.work", 2);
  assert.equal(await got.next(), 2);
  await Promise.all([worker.disconnect(), publisher.disconnect()]);
  await server.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("consumers - a handler that always throws stops at maxDeliver and the message is dead-lettered", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  await c.publish("orders.new", { id: 9 });
  const letters = new AsyncQueue<Record<string, string> | undefined>();
  await c.subscribe("$sys.dlq.picky", (_ch, _p, meta) => letters.push(meta.headers));
  await c.createConsumer({
    name: "picky",
    pattern: "orders.>",
    from: "first",
    ackWait: 60_000,
    maxDeliver: 2,
  });
  const attempts: number[] = [];
  await c.consume("picky", (m) => {
    attempts.push(m.attempt);
    throw new Error("always fails"); // nak
  });
  const headers = await letters.next("dead letter");
  assert.equal(headers?.["catbus-dlq-reason"], "max_deliver");
  assert.equal(headers?.["catbus-dlq-attempts"], "2");
  const [info] = await c.listConsumers();
  assert.equal(info.pending, 0);
  assert.deepEqual(attempts, [1, 2], "two deliveries, then it was given up");
  await c.disconnect();
});

Deno.test("consumers - createConsumer on a namespace with no message yet: create brings it into existence", async () => {
  await using server = await startCatbusd();
  const token = await grantToken(server, "-p", "all", "fresh.>");
  const c = await nativeClient(server, token);
  await c.createConsumer({ name: "early", pattern: "fresh.>" });
  const got = new AsyncQueue<unknown>();
  await c.consume("early", (m) => got.push(m.payload));
  await c.publish("fresh.one", 1);
  assert.equal(await got.next("first message"), 1);
  const reader = await nativeClient(server, await grantToken(server, "-p", "read", "void.>"));
  await assert.rejects(reader.createConsumer({ name: "r", pattern: "void.>" }), code("forbidden"));
  await Promise.all([c, reader].map((x) => x.disconnect()));
});

Deno.test("consumers - creating or deleting a consumer needs create, also on a namespace that exists", async () => {
  await using server = await startCatbusd();
  const admin = await nativeClient(server);
  await admin.publish("jobs.0", 0);
  await admin.createConsumer({ name: "theirs", pattern: "jobs.>" });
  const reader = await nativeClient(server, await grantToken(server, "-p", "read", "jobs.>"));
  await assert.rejects(
    reader.createConsumer({ name: "mine", pattern: "jobs.>" }),
    code("forbidden"),
  );
  await assert.rejects(reader.deleteConsumer("theirs"), code("forbidden"));
  assert.deepEqual((await admin.listConsumers()).map((c) => c.name), ["theirs"]);
  await Promise.all([admin, reader].map((x) => x.disconnect()));
});

Deno.test("consumers - a dead-letter channel needs write (and create), keeps to declared namespaces, and $sys takes only the default", async () => {
  await using server = await startCatbusd(["--namespaces", "a,secret"]);
  const admin = await nativeClient(server);
  await admin.publish("secret.orders.paid", { real: true });
  await admin.publish("a.init", null);
  const role = (await server.cli(["role", "create", "--name", "attacker"])).stdout.split("\n")[0];
  await grantToken(server, "-p", "all", "a.>", "--to", role);
  await grantToken(server, "-p", "write", "b.>", "--to", role);
  const attacker = await nativeClient(server, role);
  const create = (deadLetter: string) =>
    attacker.createConsumer({ name: "evil", pattern: "a.evil.x1", deadLetter, maxDeliver: 1 });
  await assert.rejects(create("secret.orders.paid"), code("forbidden"));
  await assert.rejects(create("$sys.config.override"), code("forbidden"));
  await assert.rejects(create("$sys.dlq.other"), code("forbidden"));
  await assert.rejects(create("_inbox.victim.x.1"), code("forbidden"), "no forged replies");
  await assert.rejects(create("b.letters"), code("not_found"), "write but no create on b");
  await assert.rejects(
    admin.createConsumer({ name: "wide", pattern: "a.>", deadLetter: "undeclared.x" }),
    code("bad_request"),
  );
  assert.deepEqual(await admin.listConsumers(), []);
  // Allowed: its own namespace, or the default.
  await attacker.createConsumer({ name: "fine", pattern: "a.>", deadLetter: "a.dead" });
  await attacker.createConsumer({ name: "evil", pattern: "a.evil.x1" });
  await Promise.all([admin, attacker].map((x) => x.disconnect()));
});

Deno.test("consumers - a dead letter carries the stored message and the server's headers, not a reply_to", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  await c.publish("jobs.init", null);
  await c.createConsumer({ name: "t", pattern: "jobs.work", deadLetter: "jobs.dead" });
  const letters = new AsyncQueue<{ payload: unknown; headers?: Record<string, string> }>();
  await c.subscribe(
    "jobs.dead",
    (_ch, payload, meta) => letters.push({ payload, headers: meta.headers }),
  );
  await c.consume("t", (m) => m.term());
  await c.publish("jobs.work", { n: 1 }, {
    headers: { reply_to: "_inbox.x.y", "catbus-dlq-reason": "forged", note: "kept" },
  });
  const letter = await letters.next("dead letter");
  assert.deepEqual(letter.payload, { n: 1 });
  assert.equal(letter.headers?.["catbus-dlq-reason"], "terminated");
  assert.equal(letter.headers?.note, "kept");
  assert.equal(letter.headers?.reply_to, undefined);
  await c.disconnect();
});
