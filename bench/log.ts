// Log engine throughput: deno run -A bench/log.ts [--quick]
// Prints a Markdown table (records/s and MB/s of record data) for BENCHMARKS.md.
import { parseFsyncPolicy } from "../src/log/fsync-policy.ts";
import { Log } from "../src/log/log.ts";

const quick = Deno.args.includes("--quick");
const scale = quick ? 0.05 : 1;

async function appendRun(policy: string, size: number, total: number, writers: number) {
  const dir = await Deno.makeTempDir({ prefix: "catbus-bench-log-" });
  const log = await Log.open({ dir, fsync: parseFsyncPolicy(policy) });
  const data = new Uint8Array(size).fill(120);
  const perWriter = Math.ceil(total / writers);
  const start = performance.now();
  await Promise.all(Array.from({ length: writers }, async () => {
    for (let i = 0; i < perWriter; i++) await log.append([{ data, time: Date.now() }]);
  }));
  const seconds = (performance.now() - start) / 1000;
  await log.close();
  await Deno.remove(dir, { recursive: true });
  const n = perWriter * writers;
  return { rate: n / seconds, mbps: (n * size) / seconds / 1e6 };
}

async function replayRun(size: number, total: number) {
  const dir = await Deno.makeTempDir({ prefix: "catbus-bench-log-" });
  const log = await Log.open({ dir, fsync: { kind: "never" } });
  const data = new Uint8Array(size).fill(120);
  const batch = Array.from({ length: 1000 }, () => ({ data, time: Date.now() }));
  for (let i = 0; i < total; i += 1000) await log.append(batch);
  await log.close();
  const again = await Log.open({ dir, fsync: { kind: "never" } });
  const start = performance.now();
  let n = 0;
  for await (const _ of again.readIter(1)) n++;
  const seconds = (performance.now() - start) / 1000;
  await again.close();
  await Deno.remove(dir, { recursive: true });
  return { rate: n / seconds, mbps: (n * size) / seconds / 1e6 };
}

const fmt = (r: { rate: number; mbps: number }) =>
  `${Math.round(r.rate).toLocaleString("en")} | ${r.mbps.toFixed(1)}`;
console.log("| scenario | records/s | MB/s |");
console.log("|---|---|---|");
for (const size of [100, 1024]) {
  for (const [policy, writers] of [["always", 64], ["interval:5", 64]] as const) {
    const total = Math.round((size === 100 ? 300_000 : 150_000) * scale);
    const r = await appendRun(policy, size, total, writers);
    console.log(
      `| append ${size} B, fsync ${policy}, ${writers} concurrent appenders | ${fmt(r)} |`,
    );
  }
}
const replayed = Math.round(1_000_000 * scale);
console.log(
  `| replay ${replayed.toLocaleString("en")} × 100 B from disk | ${
    fmt(await replayRun(100, replayed))
  } |`,
);
