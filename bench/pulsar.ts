/**
 * The Pulsar Relay dialect measured as the original's benchmarks/run_benchmarks.py measures
 * itself (sequential and concurrent REST publishes, bulk batches of 50, WebSocket end-to-end and
 * broadcast), against a real catbusd with `--fsync never` (the original's published figures use
 * its memory backend). Prints a markdown table for BENCHMARKS.md.
 *
 *   node_modules/.bin/deno run -A bench/pulsar.ts
 */
import { ADMIN, login, startPulsar } from "../test/helpers/pulsar.ts";

const server = await startPulsar(["--fsync", "never"]);
const token = (await login(server, ADMIN.username, ADMIN.password)).access_token;
const url = server.pulsarUrl;
const wsUrl = `${url.replace(/^http/, "ws")}/ws?token=${token}`;
const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

const post = async (path: string, body: unknown) => {
  const res = await fetch(`${url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  await res.arrayBuffer();
  if (res.status >= 300 && res.status !== 207) throw new Error(`${path}: ${res.status}`);
};
const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p / 100))] : 0;
const ms = (n: number) => n.toFixed(2);

interface Row {
  scenario: string;
  rate: number;
  unit: string;
  p50?: number;
  p99?: number;
  original: string;
}
const rows: Row[] = [];

async function timed(count: number, op: (i: number) => Promise<void>, concurrency = 1) {
  const latencies: number[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i += concurrency) {
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count - i) }, async (_, j) => {
        const t = performance.now();
        await op(i + j);
        latencies.push(performance.now() - t);
      }),
    );
  }
  return {
    seconds: (performance.now() - start) / 1000,
    latencies: latencies.sort((a, b) => a - b),
  };
}

// Warm-up: topics exist, connections are open.
await timed(
  200,
  (i) => post("/api/v1/messages", { topic: `benchmark-topic-${i % 10}`, payload: {} }),
);

{
  const n = 1000;
  const r = await timed(n, (i) =>
    post("/api/v1/messages", {
      topic: `benchmark-topic-${i % 10}`,
      payload: { index: i, data: `message-${i}` },
    }));
  rows.push({
    scenario: "single-message ingest (1,000 sequential POSTs)",
    rate: n / r.seconds,
    unit: "msg/s",
    p50: pct(r.latencies, 50),
    p99: pct(r.latencies, 99),
    original: "1,338 msg/s, p50 0.73 ms, p99 1.22 ms",
  });
}
{
  const batches = 100, size = 50;
  const r = await timed(batches, (b) =>
    post("/api/v1/messages/bulk", {
      messages: Array.from({ length: size }, (_, i) => ({
        topic: `benchmark-bulk-${i % 5}`,
        payload: { batch: b, index: i },
      })),
    }));
  rows.push({
    scenario: "bulk ingest, 50 per batch (100 batches)",
    rate: batches * size / r.seconds,
    unit: "msg/s",
    p50: pct(r.latencies, 50),
    p99: pct(r.latencies, 99),
    original: "32,955 msg/s, p99 4.19 ms",
  });
}
{
  const n = 2000;
  const r = await timed(n, (i) =>
    post("/api/v1/messages", {
      topic: `concurrent-topic-${i % 20}`,
      payload: { index: i, timestamp: Date.now() },
    }), 20);
  rows.push({
    scenario: "20 concurrent publishers (waves of 20)",
    rate: n / r.seconds,
    unit: "msg/s",
    p50: pct(r.latencies, 50),
    p99: pct(r.latencies, 99),
    original: "428 msg/s",
  });
}

/** Opens `n` WebSockets subscribed to their topics; resolves once every one is subscribed. */
async function subscribers(
  topics: string[],
  onMessage: (data: { payload: { sent_at?: number } }) => void,
) {
  return await Promise.all(topics.map((topic) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(wsUrl);
      ws.onopen = () => ws.send(JSON.stringify({ type: "subscribe", topics: [topic] }));
      ws.onerror = () => reject(new Error("websocket failed"));
      ws.onmessage = (e) => {
        const data = JSON.parse(e.data);
        if (data.type === "subscribed") resolve(ws);
        else if (data.type === "message") onMessage(data);
      };
    })
  ));
}

async function endToEnd(paced: boolean) {
  const clients = 20, perTopic = 100;
  const topics = Array.from({ length: 5 }, (_, i) => `delivery-topic-${i}`);
  const latencies: number[] = [];
  let received = 0;
  const { promise: all, resolve } = Promise.withResolvers<void>();
  const sockets = await subscribers(
    Array.from({ length: clients }, (_, i) => topics[i % topics.length]),
    (data) => {
      latencies.push(Date.now() - data.payload.sent_at!);
      if (++received === clients * perTopic) resolve();
    },
  );
  const start = performance.now();
  await Promise.all(topics.map(async (topic) => {
    for (let i = 0; i < perTopic; i++) {
      await post("/api/v1/messages", { topic, payload: { index: i, sent_at: Date.now() } });
      if (paced) await new Promise((r) => setTimeout(r, 10));
    }
  }));
  await all;
  const seconds = (performance.now() - start) / 1000;
  for (const ws of sockets) ws.close();
  latencies.sort((a, b) => a - b);
  rows.push({
    scenario: `end-to-end, 20 WebSocket clients, 5 topics × 100${
      paced ? " (10 ms pause per publish, as the original)" : " (no pause)"
    }`,
    rate: received / seconds,
    unit: "deliveries/s",
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    original: paced ? "814 msg/s, p99 3.67 ms" : "—",
  });
}
await endToEnd(true);
await endToEnd(false);

{
  const clients = 30, messages = 50;
  let received = 0;
  const { promise: all, resolve } = Promise.withResolvers<void>();
  const sockets = await subscribers(Array(clients).fill("broadcast-benchmark"), () => {
    if (++received === clients * messages) resolve();
  });
  const start = performance.now();
  await Promise.all(
    Array.from({ length: messages }, (_, i) =>
      post("/api/v1/messages", {
        topic: "broadcast-benchmark",
        payload: { index: i, sent_at: Date.now() },
      })),
  );
  await all;
  const seconds = (performance.now() - start) / 1000;
  for (const ws of sockets) ws.close();
  rows.push({
    scenario: "broadcast, 50 messages × 30 clients (50 concurrent POSTs)",
    rate: received / seconds,
    unit: "deliveries/s",
    original: "15,731 deliveries/s",
  });
}

await server.stop();
console.log("| scenario | Catbus Pulsar door | p50 / p99 (ms) | original (published) |");
console.log("| --- | --- | --- | --- |");
for (const r of rows) {
  const lat = r.p50 !== undefined ? `${ms(r.p50)} / ${ms(r.p99!)}` : "—";
  console.log(
    `| ${r.scenario} | ${
      Math.round(r.rate).toLocaleString("en-US")
    } ${r.unit} | ${lat} | ${r.original} |`,
  );
}
Deno.exit(0);
