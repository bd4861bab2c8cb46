/**
 * A load generator process: `deno run -A bench/load.ts '<task JSON>'`. Prints `ready` when its
 * connections are set up (for roles that wait), then one JSON result line. Started by
 * bench/run.ts; every task is bounded by a count and a deadline.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { connect as natsConnect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Valkey } from "iovalkey";
import { CatbusClient } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { type BenchConn, connectTo, type Endpoints, type SystemName } from "./drivers.ts";

export type Task =
  | {
    role: "sub";
    system: SystemName;
    ep: Endpoints;
    subject: string;
    conns: number;
    expect: number;
    timeoutMs: number;
  }
  | {
    role: "pub";
    system: SystemName;
    ep: Endpoints;
    subject: string;
    conns: number;
    count: number;
    size: number;
  }
  | {
    role: "latency";
    system: SystemName;
    ep: Endpoints;
    subject: string;
    rate: number;
    seconds: number;
    size: number;
  }
  | { role: "idle"; system: SystemName; ep: Endpoints; conns: number }
  | {
    role: "durable";
    system: "catbus" | "jetstream" | "redis-streams";
    ep: Endpoints;
    count: number;
    size: number;
    window: number;
  }
  | {
    role: "consume";
    system: "catbus" | "jetstream" | "redis-streams";
    ep: Endpoints;
    count: number;
    timeoutMs: number;
  }
  | {
    role: "replay";
    system: "catbus" | "jetstream" | "redis-streams";
    ep: Endpoints;
    count: number;
    timeoutMs: number;
  };

/** Waits for `done`, but not past `deadline` (a performance.now() time). */
async function until(done: Promise<void>, deadline: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    done,
    new Promise<void>((r) => timer = setTimeout(r, Math.max(0, deadline - now()))),
  ]);
  clearTimeout(timer);
}

const say = (line: unknown) => console.log(typeof line === "string" ? line : JSON.stringify(line));
const now = () => performance.now();

function payload(size: number): Uint8Array {
  return new Uint8Array(Math.max(size, 8)).fill(97);
}

async function sub(t: Extract<Task, { role: "sub" }>) {
  let received = 0, first = 0, last = 0;
  const done = Promise.withResolvers<void>();
  const total = t.expect * t.conns;
  const conns: BenchConn[] = [];
  for (let i = 0; i < t.conns; i++) {
    const c = await connectTo(t.system, t.ep);
    conns.push(c);
    await c.subscribe(t.subject, () => {
      if (received === 0) first = now();
      last = now();
      if (++received === total) done.resolve();
    });
  }
  say("ready");
  await until(done.promise, now() + t.timeoutMs);
  say({ received, seconds: (last - first) / 1000 });
  await Promise.all(conns.map((c) => c.close()));
}

async function pub(t: Extract<Task, { role: "pub" }>) {
  const data = payload(t.size);
  const conns = await Promise.all(Array.from({ length: t.conns }, () => connectTo(t.system, t.ep)));
  const start = now();
  // Publish in windows of 1000 with a flush between: fast, but never so far ahead of the
  // server that its buffers (or a subscriber's) overflow.
  await Promise.all(conns.map(async (c) => {
    for (let i = 0; i < t.count;) {
      const n = Math.min(1000, t.count - i);
      for (let k = 0; k < n; k++) c.publish(t.subject, data);
      i += n;
      await c.flush();
    }
  }));
  say({ sent: t.count * t.conns, seconds: (now() - start) / 1000 });
  await Promise.all(conns.map((c) => c.close()));
}

/**
 * Publishes at a fixed rate with the send time inside each message; measures delivery time,
 * and this process's own event-loop delay (a late timer or callback here delays the sample too,
 * so a tail can be told apart from the server's).
 */
async function latency(t: Extract<Task, { role: "latency" }>) {
  const subConn = await connectTo(t.system, t.ep);
  const pubConn = await connectTo(t.system, t.ep);
  const samples: number[] = [];
  const total = Math.round(t.rate * t.seconds);
  const done = Promise.withResolvers<void>();
  await subConn.subscribe(t.subject, (data) => {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    samples.push(now() - view.getFloat64(0));
    if (samples.length === total) done.resolve();
  });
  const data = payload(t.size);
  const view = new DataView(data.buffer);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const start = now();
  let sent = 0;
  // Every millisecond, send what the schedule says is due (timers are ~1 ms granular).
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((now() - start) / 1000) * t.rate));
      while (sent < due) {
        view.setFloat64(0, now());
        pubConn.publish(t.subject, data.slice());
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await until(done.promise, now() + 10_000);
  loop.disable();
  samples.sort((a, b) => a - b);
  const q = (p: number) =>
    samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN;
  say({
    received: samples.length,
    sent,
    p50: q(0.5),
    p99: q(0.99),
    p999: q(0.999),
    // No samples (a loop too busy for its own timer) reads as unknown, not as 0.
    loopP99: loop.count ? loop.percentile(99) / 1e6 : null,
    loopMax: loop.count ? loop.max / 1e6 : null,
  });
  await Promise.all([subConn.close(), pubConn.close()]);
}

async function idle(t: Extract<Task, { role: "idle" }>) {
  const conns: BenchConn[] = [];
  for (let i = 0; i < t.conns; i++) conns.push(await connectTo(t.system, t.ep));
  say("ready");
  // Stay connected until the orchestrator closes stdin.
  for await (const _ of Deno.stdin.readable) { /* wait */ }
  await Promise.all(conns.map((c) => c.close()));
  say({ closed: conns.length });
}

async function catbusTcp(ep: Endpoints) {
  const c = new CatbusClient({
    url: ep.catbusTcp,
    token: ep.catbusToken,
    transport: tcpTransport(),
    requestTimeout: 120_000,
    // Dead-peer detection as lax as nats.js's (a ping every 2 min): under load a server busy
    // with its subscribers answers a publisher's ping late, which is not a dead server.
    pingInterval: 120_000,
  });
  await c.connect();
  return c;
}

/** Acknowledged (durable) publishes with `window` in flight. */
async function durable(t: Extract<Task, { role: "durable" }>) {
  const data = payload(t.size);
  let publishOne: () => Promise<unknown>;
  let close: () => Promise<unknown>;
  if (t.system === "catbus") {
    const c = await catbusTcp(t.ep);
    publishOne = () => c.publish("durable.x", data);
    close = () => c.disconnect();
  } else if (t.system === "jetstream") {
    const nc = await natsConnect({ servers: t.ep.nats });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete("BENCH").catch(() => {});
    await jsm.streams.add({ name: "BENCH", subjects: ["durable.>"], storage: "file" });
    const js = jetstream(nc);
    publishOne = () => js.publish("durable.x", data);
    close = () => nc.close();
  } else {
    const r = new Valkey(t.ep.redis);
    await r.del("bench:durable");
    const buf = Buffer.from(data);
    publishOne = () => r.xadd("bench:durable", "*", "d", buf);
    close = () => Promise.resolve(r.disconnect());
  }
  const start = now();
  let started = 0;
  await Promise.all(Array.from({ length: t.window }, async () => {
    while (started < t.count) {
      started++;
      await publishOne();
    }
  }));
  say({ acked: t.count, seconds: (now() - start) / 1000 });
  await close();
}

/** A new subscriber reads every stored message from the start. */
async function replay(t: Extract<Task, { role: "replay" }>) {
  let received = 0;
  const start = now();
  const deadline = start + t.timeoutMs;
  if (t.system === "catbus") {
    const c = await catbusTcp(t.ep);
    const done = Promise.withResolvers<void>();
    await c.subscribe("durable.>", () => {
      if (++received === t.count) done.resolve();
    }, { from: "first" });
    await until(done.promise, deadline);
    await c.disconnect();
  } else if (t.system === "jetstream") {
    const nc = await natsConnect({ servers: t.ep.nats });
    const consumer = await jetstream(nc).consumers.get("BENCH");
    const messages = await consumer.consume({ max_messages: 10_000 });
    for await (const _ of messages) {
      if (++received === t.count || now() > deadline) break;
    }
    await nc.close();
  } else {
    const r = new Valkey(t.ep.redis);
    let from = "-";
    while (received < t.count && now() < deadline) {
      const batch = await r.xrange("bench:durable", from, "+", "COUNT", 10_000);
      if (!batch.length) break;
      received += batch.length;
      const lastId = batch[batch.length - 1][0];
      from = `(${lastId}`;
    }
    r.disconnect();
  }
  say({ received, seconds: (now() - start) / 1000 });
}

/**
 * A new durable consumer reads stored messages from the start and acks each one: Catbus
 * `consume()` (explicit acks, 1000 in flight), a JetStream durable pull consumer with explicit
 * acks, a Redis consumer group (XREADGROUP + XACK per batch).
 */
async function consume(t: Extract<Task, { role: "consume" }>) {
  let acked = 0;
  const start = now();
  const deadline = start + t.timeoutMs;
  const name = `bench${Math.random().toString(36).slice(2, 8)}`;
  if (t.system === "catbus") {
    const c = await catbusTcp(t.ep);
    const done = Promise.withResolvers<void>();
    await c.createConsumer({ name, pattern: "durable.>", from: "first", maxInFlight: 1000 });
    await c.consume(name, async (m) => {
      await m.ack();
      if (++acked === t.count) done.resolve();
    });
    await until(done.promise, deadline);
    await c.disconnect();
  } else if (t.system === "jetstream") {
    const nc = await natsConnect({ servers: t.ep.nats });
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add("BENCH", { durable_name: name, ack_policy: "explicit" as never });
    const consumer = await jetstream(nc).consumers.get("BENCH", name);
    const messages = await consumer.consume({ max_messages: 1000 });
    for await (const m of messages) {
      m.ack();
      if (++acked === t.count || now() > deadline) break;
    }
    await nc.flush();
    await nc.close();
  } else {
    const r = new Valkey(t.ep.redis);
    await r.xgroup("CREATE", "bench:durable", name, "0");
    while (acked < t.count && now() < deadline) {
      const reply = await r.xreadgroup(
        "GROUP",
        name,
        "c1",
        "COUNT",
        1000,
        "STREAMS",
        "bench:durable",
        ">",
      ) as [string, [string, string[]][]][] | null;
      const entries = reply?.[0][1] ?? [];
      if (!entries.length) break;
      await r.xack("bench:durable", name, ...entries.map(([id]) => id));
      acked += entries.length;
    }
    r.disconnect();
  }
  say({ acked, seconds: (now() - start) / 1000 });
}

const task = JSON.parse(Deno.args[0]) as Task;
const roles = { sub, pub, latency, idle, durable, replay, consume } as Record<
  string,
  (t: Task) => Promise<void>
>;
await roles[task.role](task);
Deno.exit(0);
