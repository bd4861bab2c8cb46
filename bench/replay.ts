/**
 * Scenario 5 of bench/run.ts alone, for comparing two trees: a catbusd of this tree
 * (`--fsync never`) on a data directory that holds `--count` stored messages of 128 B on
 * `durable.x` (published on the first use of the directory, so two trees can replay the same
 * log), then one warm-up and `--runs` counted replays from the first message to one TCP
 * subscriber (bench/load.ts's replay role). Prints one JSON line per counted replay: msg/s and
 * catbusd's CPU seconds per million messages (from /proc).
 *
 *   deno run -A bench/replay.ts [--data DIR] [--count 1000000] [--runs 3]
 */
import { fileURLToPath } from "node:url";
import type { Endpoints } from "./drivers.ts";
import type { Task } from "./load.ts";
import { cpuSeconds } from "./proc.ts";
import { startCatbusd } from "../test/helpers/catbusd.ts";

const flag = (name: string, fallback: string) => {
  const at = Deno.args.indexOf(name);
  return at >= 0 ? Deno.args[at + 1] : fallback;
};
const count = Number(flag("--count", "1000000"));
const runs = Number(flag("--runs", "3"));
const given = flag("--data", "");
const data = given || await Deno.makeTempDir({ prefix: "catbus-replay-" });
const filled = `${data}/.replay-bench-${count}`;

async function load(task: Task): Promise<Record<string, number>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fileURLToPath(new URL("./load.ts", import.meta.url)), JSON.stringify(task)],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const last = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  if (!out.success || !last.startsWith("{")) throw new Error(`load generator failed: ${last}`);
  return JSON.parse(last);
}

const server = await startCatbusd(["--fsync", "never", "--outbound-bytes", "64MiB"], { data });
try {
  const ep: Endpoints = {
    catbusTcp: server.tcpUrl,
    catbusWs: server.wsUrl,
    catbusToken: server.adminKey,
    nats: "",
    redis: "",
    socketio: "",
  };
  const filledBefore = await Deno.stat(filled).then(() => true, () => false);
  if (!filledBefore) {
    await load({
      role: "pub",
      system: "catbus-tcp",
      ep,
      subject: "durable.x",
      conns: 1,
      count,
      size: 128,
    });
    await Deno.writeTextFile(filled, "");
  }
  for (let run = 0; run <= runs; run++) {
    const before = await cpuSeconds(server.pid);
    const r = await load({ role: "replay", system: "catbus", ep, count, timeoutMs: 120_000 });
    const cpu = await cpuSeconds(server.pid) - before;
    if (r.received !== count) throw new Error(`replayed ${r.received} of ${count} messages`);
    if (run === 0) continue; // the warm-up
    console.log(JSON.stringify({
      rate: Math.round(r.received / r.seconds),
      cpuPerM: Number((cpu / r.received * 1e6).toFixed(2)),
    }));
  }
} finally {
  await server.stop();
  if (!given) await Deno.remove(data, { recursive: true });
}
