/**
 * State-machine apply-event throughput and latency over RCP against a real catbusd:
 * 1 and 32 clients, each pipelining WINDOW requests, under every_write (group commit) and
 * every_ms:5. Prints a markdown table for BENCHMARKS.md.
 *
 *   node_modules/.bin/deno run -A bench/sm.ts [--seconds 5] [--window 64]
 */
import { parseArgs } from "node:util";
import { RcpClient } from "../src/dialects/rcp/client.ts";
import { startCatbusd } from "../test/helpers/catbusd.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { seconds: { type: "string", default: "5" }, window: { type: "string", default: "64" } },
});
const SECONDS = Number(values.seconds);
const WINDOW = Number(values.window);
const INSTANCES_PER_CLIENT = 100;
const LOOP = {
  states: ["s"],
  initial: "s",
  transitions: [{ from: "s", event: "E", to: "s", guard: "ctx.n >= 0" }],
};

interface Result {
  fsync: string;
  clients: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** One client: keeps WINDOW apply-events in flight until `until`, recording latencies. */
async function drive(client: RcpClient, prefix: string, until: number, latencies: number[]) {
  let n = 0;
  let count = 0;
  const one = async (): Promise<void> => {
    while (performance.now() < until) {
      const id = `${prefix}-${n++ % INSTANCES_PER_CLIENT}`;
      const start = performance.now();
      await client.request("APPLY_EVENT", { instance_id: id, event: "E", payload: { n } });
      latencies.push(performance.now() - start);
      count++;
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, one));
  return count;
}

async function run(fsync: string, clients: number): Promise<Result> {
  // The bus copy of each transition (namespace `sm`) is stored under the same policy.
  const busFsync = fsync === "every_write" ? "always" : fsync.replace("every_ms", "interval");
  await using server = await startCatbusd([
    "--rcp-bind",
    "127.0.0.1:0",
    "--sm-fsync",
    fsync,
    "--fsync",
    busFsync,
  ]);
  const connections = await Promise.all(
    Array.from(
      { length: clients },
      () => RcpClient.connect({ hostname: "127.0.0.1", port: server.rcpPort! }),
    ),
  );
  await connections[0].request("PUT_MACHINE", { machine: "loop", version: 1, definition: LOOP });
  await Promise.all(
    connections.map((c, i) =>
      Promise.all(
        Array.from({ length: INSTANCES_PER_CLIENT }, (_, k) =>
          c.request("CREATE_INSTANCE", {
            instance_id: `c${i}-${k}`,
            machine: "loop",
            version: 1,
            initial_ctx: { n: 0 },
          })),
      )
    ),
  );
  // Warm up (JIT, page cache), then measure.
  const warm = performance.now() + 1000;
  await Promise.all(connections.map((c, i) => drive(c, `c${i}`, warm, [])));
  const latencies: number[] = [];
  const start = performance.now();
  const counts = await Promise.all(
    connections.map((c, i) => drive(c, `c${i}`, start + SECONDS * 1000, latencies)),
  );
  const elapsed = (performance.now() - start) / 1000;
  for (const c of connections) c.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
  return {
    fsync,
    clients,
    perSecond: counts.reduce((a, b) => a + b, 0) / elapsed,
    p50: pct(0.5),
    p99: pct(0.99),
  };
}

const results: Result[] = [];
for (const fsync of ["every_write", "every_ms:5"]) {
  for (const clients of [1, 32]) {
    const r = await run(fsync, clients);
    console.error(`${fsync} ${clients} clients: ${Math.round(r.perSecond)}/s`);
    results.push(r);
  }
}
console.log(
  `apply-event over RCP, ${WINDOW} requests in flight per client, ${SECONDS} s per row ` +
    `(${navigator.hardwareConcurrency} CPUs)\n`,
);
console.log("| fsync policy | clients | apply-events/s | p50 latency | p99 latency |");
console.log("|---|---:|---:|---:|---:|");
for (const r of results) {
  console.log(
    `| ${r.fsync} | ${r.clients} | ${Math.round(r.perSecond).toLocaleString("en-US")} | ` +
      `${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms |`,
  );
}
