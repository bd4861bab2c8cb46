/**
 * The shared engines side by side: `node bin/deno.mjs run -A bench/engines.ts [valkey] [postgres]`
 * (both by default; each needs its local service, CATBUS_TEST_VALKEY_URL /
 * CATBUS_TEST_DATABASE_URL). Two catbusd nodes on one engine; a publisher on node 1 and a
 * subscriber on node 2 (fan-out 1→1 across two nodes), both TCP clients in this process:
 *
 * - publish rate: 20,000 messages of 128 B with up to 256 unacknowledged, until the last ack;
 * - delivered rate: the same messages, until the subscriber on node 2 has them all;
 * - latency: 500 msg/s for 4 s, publish on node 1 → delivery on node 2, p50 and p99.
 *
 * Short and bounded (every wait has a deadline); prints a Markdown table for BENCHMARKS.md.
 */
import postgres from "postgres";
import { CatbusClient } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { migrate } from "../src/auth/role-schema-postgres.ts";
import { migrateSchema } from "../src/connectors/postgres/migrations.ts";
import { STREAMS_SCHEMA } from "../src/streams/postgres/schema.ts";
import { startCatbusd, type TestServer } from "../test/helpers/catbusd.ts";
import { within } from "../test/helpers/deadline.ts";
import { deleteKeys, uniquePrefix } from "../test/helpers/valkey.ts";

const COUNT = 20_000;
const WINDOW = 256;
const RATE = 500;
const SECONDS = 4;
const payload = "a".repeat(128);

const VALKEY = Deno.env.get("CATBUS_TEST_VALKEY_URL") ?? "redis://127.0.0.1:6379";
const POSTGRES = Deno.env.get("CATBUS_TEST_DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/test";

interface Engine {
  name: string;
  args: string[];
  dispose(): Promise<void>;
}

function valkey(): Engine {
  const prefix = uniquePrefix("bench");
  return {
    name: "valkey",
    args: ["--engine", "valkey", "--valkey-url", VALKEY, "--valkey-prefix", prefix],
    dispose: () => deleteKeys(VALKEY, prefix),
  };
}

async function postgresEngine(): Promise<Engine> {
  const admin = postgres(POSTGRES, { onnotice: () => {}, max: 1 });
  const name = `catbus_bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(POSTGRES);
  url.pathname = `/${name}`;
  const sql = postgres(url.toString(), { onnotice: () => {}, max: 1 });
  await migrate(sql);
  await migrateSchema(sql, STREAMS_SCHEMA);
  await sql.end();
  return {
    name: "postgres",
    args: ["--engine", "postgres", "--database-url", url.toString()],
    async dispose() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

async function client(node: TestServer): Promise<CatbusClient> {
  const c = new CatbusClient({ url: node.tcpUrl, token: node.adminKey, transport: tcpTransport() });
  await c.connect();
  return c;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function measure(engine: Engine) {
  const nodes = [
    await startCatbusd([...engine.args, "--no-webtransport", "--outbound-bytes", "64MiB"]),
    await startCatbusd([...engine.args, "--no-webtransport", "--outbound-bytes", "64MiB"]),
  ];
  try {
    const [pub, sub] = [await client(nodes[0]), await client(nodes[1])];
    await pub.publish("bench.x", "create"); // the namespace, before node 2 subscribes
    let received = 0;
    let target = 0;
    let reached = Promise.withResolvers<void>();
    const sentAt = new Map<number, number>();
    const latencies: number[] = [];
    await sub.subscribe("bench.>", (_channel, value) => {
      const v = value as { i: number; p: string };
      const at = sentAt.get(v.i);
      if (at !== undefined) latencies.push(performance.now() - at);
      if (++received === target) reached.resolve();
    });

    // Throughput: a window of unacknowledged publishes.
    target = COUNT;
    const start = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < COUNT) await pub.publish("bench.x", { i: -1 - next++, p: payload });
    };
    await within(
      Promise.all(Array.from({ length: WINDOW }, worker)),
      120_000,
      "the publishes",
    );
    const acked = performance.now() - start;
    await within(reached.promise, 120_000, "the deliveries on node 2");
    const delivered = performance.now() - start;

    // Latency at a fixed rate.
    received = 0;
    target = RATE * SECONDS;
    reached = Promise.withResolvers<void>();
    const begin = performance.now();
    for (let i = 0; i < target; i++) {
      const due = begin + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      sentAt.set(i, performance.now());
      pub.publish("bench.x", { i, p: payload }).catch(() => {});
    }
    await within(reached.promise, 60_000, "the latency run's deliveries");
    latencies.sort((a, b) => a - b);
    await pub.disconnect();
    await sub.disconnect();
    return {
      publish: COUNT / (acked / 1000),
      delivered: COUNT / (delivered / 1000),
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
    };
  } finally {
    for (const node of nodes) await node.stop();
  }
}

const wanted = Deno.args.length ? Deno.args : ["valkey", "postgres"];
const rows: string[] = [];
for (const name of wanted) {
  const engine = name === "postgres" ? await postgresEngine() : await valkey();
  try {
    const r = await measure(engine);
    rows.push(
      `| ${name} | ${Math.round(r.publish).toLocaleString("en")} | ` +
        `${Math.round(r.delivered).toLocaleString("en")} | ${r.p50.toFixed(1)} | ` +
        `${r.p99.toFixed(1)} |`,
    );
  } finally {
    await engine.dispose();
  }
}
console.log("| engine | publish msg/s (acked) | delivered on node 2 msg/s | p50 ms | p99 ms |");
console.log("|---|---|---|---|---|");
for (const row of rows) console.log(row);
