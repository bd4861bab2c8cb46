/**
 * The Pulsar Relay dialect measured as the original's benchmarks/run_benchmarks.py measures
 * itself (sequential and concurrent REST publishes, bulk batches of 50, WebSocket end-to-end and
 * broadcast), against a real catbusd with `--fsync never` (the original's published figures use
 * its memory backend). The load runs in its own processes (bench/pulsar-load.ts, a lean HTTP/1.1
 * client); the REST scenarios also run against a bare `Deno.serve` (bench/bare-http.ts), the
 * ceiling of a round trip on this machine. Prints a markdown table for BENCHMARKS.md and one JSON
 * line per scenario (rate, server CPU µs per message).
 *
 *   deno run -A bench/pulsar.ts [--only single,bulk,concurrent,e2e,e2e-paced,broadcast]
 *     [--passes N] [--server-main OTHER_CHECKOUT/src/server/main.ts] [--cpu-prof DIR]
 *
 * `--passes N` repeats a REST scenario's counted pass N times (a steadier CPU figure for an A/B);
 * `--server-main` runs another checkout's server (the old tree of an A/B).
 */
import { parseArgs } from "node:util";
import { ADMIN, login, startPulsar } from "../test/helpers/pulsar.ts";
import { cpuSeconds } from "./proc.ts";
import type { LoadResult, LoadSpec } from "./pulsar-load.ts";

const { values: opts } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string" },
    "server-main": { type: "string" },
    "cpu-prof": { type: "string" },
    passes: { type: "string", default: "1" },
  },
});
const only = new Set(opts.only?.split(",") ?? []);
const wanted = (name: string) => only.size === 0 || only.has(name);
const LOAD = new URL("./pulsar-load.ts", import.meta.url).pathname;
const deno = Deno.execPath();

const serverMain = opts["server-main"] ??
  new URL("../src/server/main.ts", import.meta.url).pathname;
const profile = opts["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${opts["cpu-prof"]}`] : [];
const server = await startPulsar(["--fsync", "never"], {
  command: [deno, "run", "-A", "--unstable-net", ...profile, serverMain],
});
const token = (await login(server, ADMIN.username, ADMIN.password)).access_token;

/** A load process: its `ready` line (when it prints one), then its result. */
function load(role: string, spec: LoadSpec) {
  const child = new Deno.Command(deno, {
    args: ["run", "-A", LOAD, role, JSON.stringify(spec)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const line = async () => {
    while (!text.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`${role} ended early (${(await child.status).code})`);
      text += value;
    }
    const [first, ...rest] = text.split("\n");
    text = rest.join("\n");
    return first;
  };
  const stdin = child.stdin.getWriter();
  return {
    /** What follows `ready` on its line. */
    ready: async () => {
      const [word, rest] = (await line()).split(" ");
      if (word !== "ready") throw new Error(`${role}: no ready line`);
      return rest;
    },
    start: (at: number) => stdin.write(new TextEncoder().encode(`${at}\n`)),
    result: async () => {
      const result = JSON.parse(await line()) as LoadResult;
      await stdin.close().catch(() => {});
      await child.status;
      return result;
    },
  };
}

const bare = new Deno.Command(deno, {
  args: ["run", "-A", new URL("./bare-http.ts", import.meta.url).pathname],
  stdout: "piped",
}).spawn();
const bareUrl = await (async () => {
  const reader = bare.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  return `http://127.0.0.1:${JSON.parse(value!).port}`;
})();

const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p / 100))] : 0;

interface Row {
  scenario: string;
  rate: number;
  unit: string;
  /** Server CPU µs per unit counted (a message, or a delivery). */
  cpu: number;
  p50?: number;
  p99?: number;
  ceiling?: number;
  ceilingCpu?: number;
  original: string;
  originalRate?: number;
}
const rows: Row[] = [];

/** Runs `body` and returns its value with the catbusd CPU seconds it took. */
async function metered<T>(pid: number, body: () => Promise<T>): Promise<[T, number]> {
  const before = await cpuSeconds(pid);
  const value = await body();
  return [value, await cpuSeconds(pid) - before];
}

const INGEST = [
  {
    name: "single",
    scenario: "single-message ingest (1,000 sequential POSTs)",
    perRequest: 1,
    original: "1,338 msg/s, p50 0.73 ms, p99 1.22 ms",
    originalRate: 1338,
  },
  {
    name: "bulk",
    scenario: "bulk ingest, 50 per batch (100 sequential batches)",
    perRequest: 50,
    original: "32,955 msg/s, p99 4.19 ms",
    originalRate: 32955,
  },
  {
    name: "concurrent",
    scenario: "20 concurrent publishers (1,000 POSTs in waves of 20)",
    perRequest: 1,
    original: "428 msg/s",
    originalRate: 428,
  },
] as const;

for (const s of INGEST) {
  if (!wanted(s.name)) continue;
  const run = async (url: string, pid: number) => {
    const child = load("ingest", { url, token, scenario: s.name, passes: Number(opts.passes) });
    await child.ready();
    return await metered(pid, () => {
      child.start(0);
      return child.result();
    });
  };
  const [r, cpu] = await run(server.pulsarUrl, server.pid);
  const [ceiling, ceilingCpu] = await run(bareUrl, bare.pid);
  const rateOf = (x: LoadResult) => x.count * s.perRequest / ((x.end - x.start) / 1000);
  rows.push({
    scenario: s.scenario,
    rate: rateOf(r),
    unit: "msg/s",
    cpu: cpu * 1e6 / (r.count * s.perRequest),
    p50: pct(r.latencies, 50),
    p99: pct(r.latencies, 99),
    ceiling: rateOf(ceiling),
    ceilingCpu: ceilingCpu * 1e6 / (ceiling.count * s.perRequest),
    original: s.original,
    originalRate: s.originalRate,
  });
}

/**
 * 20 WebSocket clients over 5 topics, 50 messages per topic from one producer each. Paced as the
 * original (10 ms after each publish, the producers starting 0.5 s after the consumers, timed from
 * before they connect to the last delivery), or unpaced, timed from the first publish.
 */
async function endToEnd(paced: boolean) {
  const topics = Array.from({ length: 5 }, (_, i) => `delivery-topic-${i}`);
  const perTopic = 50;
  const consumers = Array.from({ length: 20 }, (_, i) => topics[i % topics.length]);
  const [[sub, pub], cpu] = await metered(server.pid, async () => {
    const sub = load("subscribe", { url: server.pulsarUrl, token, topics: consumers, perTopic });
    const pub = load("publish", { url: server.pulsarUrl, token, topics, perTopic, paced });
    const [connecting] = await Promise.all([sub.ready(), pub.ready()]);
    pub.start(paced ? Number(connecting) + 500 : 0);
    return [await sub.result(), await pub.result()] as const;
  });
  const start = paced ? sub.start : pub.start;
  const seconds = (Math.max(sub.end, pub.end) - start) / 1000;
  rows.push({
    scenario: `end-to-end, 20 WebSocket clients, 5 topics × 50${
      paced ? " (10 ms pause per publish, timed as the original)" : " (no pause)"
    }`,
    rate: sub.count / seconds,
    unit: "deliveries/s",
    cpu: cpu * 1e6 / sub.count,
    p50: pct(sub.latencies, 50),
    p99: pct(sub.latencies, 99),
    original: paced ? "814 msg/s, p99 3.67 ms" : "—",
    ...(paced ? { originalRate: 814 } : {}),
  });
}
if (wanted("e2e-paced")) await endToEnd(true);
if (wanted("e2e")) await endToEnd(false);

if (wanted("broadcast")) {
  const clients = 30, messages = 50;
  const topics = Array(clients).fill("broadcast-benchmark");
  const sub = load("subscribe", { url: server.pulsarUrl, token, topics, perTopic: messages });
  const pub = load("broadcast", { url: server.pulsarUrl, token, topics, messages });
  await Promise.all([sub.ready(), pub.ready()]);
  const [[s, p], cpu] = await metered(server.pid, async () => {
    pub.start(0);
    return [await sub.result(), await pub.result()] as const;
  });
  rows.push({
    scenario: "broadcast, 50 messages × 30 clients (50 concurrent POSTs, new connections)",
    rate: s.count / ((s.end - p.start) / 1000),
    unit: "deliveries/s",
    cpu: cpu * 1e6 / s.count,
    p50: pct(s.latencies, 50),
    p99: pct(s.latencies, 99),
    original: "15,731 deliveries/s",
    originalRate: 15731,
  });
}

await server.stop();
bare.kill();
await bare.status;

const n = (x: number) => Math.round(x).toLocaleString("en-US");
console.log(
  "| scenario | Catbus Pulsar door | p50 / p99 (ms) | server CPU µs per unit | bare Deno.serve ceiling | original (published) | ratio |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  const lat = r.p50 !== undefined ? `${r.p50.toFixed(2)} / ${r.p99!.toFixed(2)}` : "—";
  const ceiling = r.ceiling
    ? `${n(r.ceiling)} ${r.unit} (CPU ${r.ceilingCpu!.toFixed(1)} µs)`
    : "—";
  const ratio = r.originalRate ? `${(r.rate / r.originalRate).toFixed(1)}×` : "—";
  console.log(
    `| ${r.scenario} | ${n(r.rate)} ${r.unit} | ${lat} | ${
      r.cpu.toFixed(1)
    } | ${ceiling} | ${r.original} | ${ratio} |`,
  );
}
for (const r of rows) console.log(JSON.stringify(r));
const [load1] = (await Deno.readTextFile("/proc/loadavg")).split(" ");
console.log(`load average (1 min) at the end: ${load1}`);
Deno.exit(0);
