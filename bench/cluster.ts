/**
 * Several nodes on one Redis: `deno run -A bench/cluster.ts [--quick]` prints a Markdown section.
 * Catbus with the Valkey engine (one node, three nodes) beside Socket.IO with its Redis streams
 * adapter (one process, three), all on a private redis-server of this run on 127.0.0.1, so its
 * INFO commandstats count only this traffic. Publishers connect to the first node, subscribers
 * to the last one (or round robin over all of them for the fan-out): every message crosses the
 * engine. Bounded: a count per run and a deadline per wait.
 */
import { fileURLToPath } from "node:url";
import { Redis } from "iovalkey";
import { type BenchConn, connectTo, type Endpoints, type SystemName } from "./drivers.ts";
import { startPrivateRedis } from "../test/helpers/valkey.ts";
import { startValkeyNodes } from "../test/helpers/valkey-nodes.ts";

const quick = Deno.args.includes("--quick");
const COUNT = quick ? 2_000 : 20_000;
const FAN_OUT = { subscribers: 30, count: quick ? 300 : 3_000 };
const LATENCY = { rate: 1_000, seconds: quick ? 1 : 3 };
const SIZE = 128;
/** Runs per figure: the report gives the median (and the range). */
const RUNS = quick ? 1 : 3;
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const now = () => performance.now();

interface Node {
  /** What connectTo needs to reach this node. */
  ep: Endpoints;
  pid: number;
  stop(): Promise<void>;
}

interface Cluster {
  system: SystemName;
  nodes: Node[];
  stop(): Promise<void>;
}

const endpoints = (fields: Partial<Endpoints>): Endpoints => ({
  catbusTcp: "",
  catbusWs: "",
  catbusToken: "",
  nats: "",
  redis: "",
  socketio: "",
  ...fields,
});

async function catbusNodes(redisUrl: string, n: number): Promise<Cluster> {
  const servers = await startValkeyNodes(Array(n).fill(redisUrl), `catbus-bench-${n}:`, [
    "--outbound-bytes",
    "64MiB",
  ]);
  const nodes = servers.map((s) => ({
    ep: endpoints({ catbusTcp: s.tcpUrl, catbusWs: s.wsUrl, catbusToken: s.adminKey }),
    pid: s.pid,
    stop: () => s.stop(),
  }));
  // The namespace exists once an admin publish created it.
  const c = await connectTo("catbus-tcp", nodes[0].ep);
  c.publish("bench.x", new Uint8Array(8));
  await c.flush();
  await c.close();
  return { system: "catbus-tcp", nodes, stop: () => stopAll(nodes) };
}

async function socketIoNodes(redisUrl: string, n: number): Promise<Cluster> {
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) {
    const child = new Deno.Command("node", {
      args: [here("./peers/socketio-cluster-server.mjs")],
      env: { REDIS_URL: redisUrl },
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!/listening (\d+)/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the Socket.IO server exited: ${seen}`);
      seen += value;
    }
    void reader.read().then(function drain(r): unknown {
      return r.done ? undefined : reader.read().then(drain);
    });
    const port = /listening (\d+)/.exec(seen)![1];
    nodes.push({
      ep: endpoints({ socketio: `http://127.0.0.1:${port}` }),
      pid: child.pid,
      async stop() {
        child.kill("SIGTERM");
        await child.status;
      },
    });
  }
  return { system: "socketio", nodes, stop: () => stopAll(nodes) };
}

async function stopAll(nodes: Node[]): Promise<void> {
  for (const node of nodes) await node.stop();
}

/** CPU seconds (user + system) a process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** What the engine and the nodes spent: Redis commands by name, CPU seconds by process. */
interface Costs {
  commands: Map<string, number>;
  nodeCpu: number;
  redisCpu: number;
}

async function costs(redis: Redis, redisPid: number, cluster: Cluster): Promise<Costs> {
  const commands = new Map<string, number>();
  for (const m of (await redis.info("commandstats")).matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) {
    commands.set(m[1], Number(m[2]));
  }
  let nodeCpu = 0;
  for (const node of cluster.nodes) nodeCpu += await cpuSeconds(node.pid);
  return { commands, nodeCpu, redisCpu: await cpuSeconds(redisPid) };
}

/** Per 1,000 messages between two readings: commands (the busiest named), node and Redis CPU. */
function perThousand(before: Costs, after: Costs, messages: number) {
  const per = (x: number) => x / messages * 1000;
  const deltas = [...after.commands]
    .map(([name, calls]) => [name, calls - (before.commands.get(name) ?? 0)] as const)
    .filter(([name, calls]) => calls > 0 && name !== "info")
    .sort((a, b) => b[1] - a[1]);
  const total = deltas.reduce((n, [, calls]) => n + calls, 0);
  return {
    commands: per(total),
    top: deltas.slice(0, 4).map(([name, calls]) => `${name} ${per(calls).toFixed(0)}`).join(", "),
    nodeCpuMs: per(after.nodeCpu - before.nodeCpu) * 1000,
    redisCpuMs: per(after.redisCpu - before.redisCpu) * 1000,
  };
}

/** Resolves once `done` does, or after `ms` (whatever arrived by then is counted). */
const bounded = (done: Promise<void>, ms: number) =>
  Promise.race([done, new Promise<void>((r) => setTimeout(r, ms))]);

async function publishAll(c: BenchConn, count: number): Promise<void> {
  const data = new Uint8Array(SIZE).fill(97);
  for (let i = 0; i < count;) {
    const n = Math.min(1000, count - i);
    for (let k = 0; k < n; k++) c.publish("bench.x", data);
    i += n;
    await c.flush();
  }
}

/** `subscribers` connections (round robin over the nodes from the last), then the publish. */
async function deliveries(cluster: Cluster, subscribers: number, count: number) {
  const { system, nodes } = cluster;
  const subs: BenchConn[] = [];
  let received = 0, first = 0, last = 0;
  const done = Promise.withResolvers<void>();
  for (let i = 0; i < subscribers; i++) {
    const c = await connectTo(system, nodes[nodes.length - 1 - (i % nodes.length)].ep);
    await c.subscribe("bench.x", () => {
      if (received === 0) first = now();
      last = now();
      if (++received === subscribers * count) done.resolve();
    });
    subs.push(c);
  }
  // Another node learns of a subscription a moment after it was answered.
  await new Promise((r) => setTimeout(r, 300));
  const pub = await connectTo(system, nodes[0].ep);
  const start = now();
  await publishAll(pub, count);
  await bounded(done.promise, 60_000);
  const seconds = (last - (subscribers === 1 ? start : first)) / 1000;
  await Promise.all([...subs, pub].map((c) => c.close()));
  return { rate: received / seconds, received, expected: subscribers * count };
}

/** Fixed-rate publishes on the first node, delivery times on the last (ms). */
async function latency(cluster: Cluster) {
  const { system, nodes } = cluster;
  const sub = await connectTo(system, nodes[nodes.length - 1].ep);
  const pub = await connectTo(system, nodes[0].ep);
  const total = LATENCY.rate * LATENCY.seconds;
  const samples: number[] = [];
  const done = Promise.withResolvers<void>();
  await sub.subscribe("bench.x", (data) => {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    samples.push(now() - view.getFloat64(0));
    if (samples.length === total) done.resolve();
  });
  await new Promise((r) => setTimeout(r, 300));
  const data = new Uint8Array(SIZE);
  const view = new DataView(data.buffer);
  const start = now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((now() - start) / 1000 * LATENCY.rate));
      while (sent < due) {
        view.setFloat64(0, now());
        pub.publish("bench.x", data.slice());
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await bounded(done.promise, 10_000);
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
  await Promise.all([sub.close(), pub.close()]);
  return { p50: q(0.5), p99: q(0.99), lost: total - samples.length };
}

const fmt = (x: number, digits = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "n/a";

/** One run of the three measurements on `cluster`, with the engine's cost of the first. */
async function measure(cluster: Cluster, probe: Redis, redisPid: number) {
  const before = await costs(probe, redisPid, cluster);
  const one = await deliveries(cluster, 1, COUNT);
  const after = await costs(probe, redisPid, cluster);
  const fan = await deliveries(cluster, FAN_OUT.subscribers, FAN_OUT.count);
  const lat = await latency(cluster);
  return {
    one: one.rate,
    fan: fan.rate,
    p50: lat.p50,
    p99: lat.p99,
    short: one.received < one.expected || fan.received < fan.expected || lat.lost > 0,
    cost: perThousand(before, after, COUNT),
  };
}

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const redis = await startPrivateRedis();
  if (!redis) throw new Error("no redis-server on PATH");
  const probe = new Redis(redis.url);
  const redisPid = Number(/process_id:(\d+)/.exec(await probe.info("server"))![1]);
  const rows: string[] = [];
  const costRows: string[] = [];
  try {
    for (const n of [1, 3]) {
      for (const start of [catbusNodes, socketIoNodes]) {
        const cluster = await start(redis.url, n);
        const label = `${
          cluster.system === "socketio"
            ? "Socket.IO + redis-streams-adapter"
            : "Catbus, Valkey engine"
        }, ${n} node${n > 1 ? "s" : ""}`;
        try {
          const runs: Awaited<ReturnType<typeof measure>>[] = [];
          for (let i = 0; i < RUNS; i++) runs.push(await measure(cluster, probe, redisPid));
          const med = (pick: (r: (typeof runs)[number]) => number) => median(runs.map(pick));
          const range = (pick: (r: (typeof runs)[number]) => number) => {
            const xs = runs.map(pick);
            return RUNS > 1 ? ` (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : "";
          };
          const short = runs.some((r) => r.short) ? " (some messages missing in a run)" : "";
          rows.push(
            `| ${label} | ${fmt(med((r) => r.one))}${range((r) => r.one)} | ` +
              `${fmt(med((r) => r.fan))}${range((r) => r.fan)} | ` +
              `${fmt(med((r) => r.p50), 2)} / ${fmt(med((r) => r.p99), 2)}${short} |`,
          );
          // The busiest commands of the median run by commands.
          const typical = runs.toSorted((x, y) => x.cost.commands - y.cost.commands)[
            Math.floor(RUNS / 2)
          ];
          costRows.push(
            `| ${label} | ${fmt(med((r) => r.cost.commands), 1)} (${typical.cost.top}) | ` +
              `${fmt(med((r) => r.cost.nodeCpuMs))} | ${fmt(med((r) => r.cost.redisCpuMs))} |`,
          );
        } finally {
          await cluster.stop();
        }
      }
    }
  } finally {
    probe.disconnect();
    await redis.stop();
  }
  console.log(
    `${fmt(COUNT)} messages of ${SIZE} B published on the first node; one subscriber on the ` +
      `last node (publish → delivery rate), ${FAN_OUT.subscribers} subscribers round robin over ` +
      `the nodes for ${fmt(FAN_OUT.count)} messages (deliveries/s), and delivery time from the ` +
      `first node to the last at ${fmt(LATENCY.rate)} msg/s for ${LATENCY.seconds} s. ` +
      `Each figure: the median of ${RUNS} runs (min–max), latencies and costs medians.`,
  );
  console.log();
  console.log(
    "| system | publish → 1 subscriber, msg/s | fan-out, deliveries/s | latency p50 / p99 ms |",
  );
  console.log("|---|---|---|---|");
  for (const row of rows) console.log(row);
  console.log();
  console.log(
    "Cost on the engine per 1,000 messages of the first column (Redis INFO commandstats delta, " +
      "the busiest commands; CPU from /proc of every node process and of redis-server):",
  );
  console.log();
  console.log("| system | Redis commands | nodes' CPU ms | Redis CPU ms |");
  console.log("|---|---|---|---|");
  for (const row of costRows) console.log(row);
}

await main();
