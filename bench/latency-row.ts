/**
 * One row of scenario 3 (latency at a fixed offered rate) against a fresh catbusd, for chasing a
 * tail: `node bin/deno.mjs run -A bench/latency-row.ts [options]`, one JSON line per run (the
 * generator's p50 / p99 / p99.9 and loop delay, catbusd's loop delay and CPU s per 1M messages).
 *
 *   --transport tcp|ws        (tcp)         --namespace stored|ephemeral (stored)
 *   --rate N msg/s            (10000)       --seconds N per run          (5)
 *   --size N bytes            (128)         --runs N                     (2; read the later ones,
 *                                                                        the first warms catbusd up)
 *   --server DIR              a checkout whose src/server/main.ts runs (an A/B against another tree)
 *   --v8-flags F --gc-log FILE   e.g. `--v8-flags=--trace-gc-nvp --gc-log gc.txt`: catbusd's
 *                             stdout (where V8 traces go) into FILE
 *
 * catbusd runs as the harness starts it (`--fsync never`); the generator is bench/load.ts.
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { startCatbusd } from "../test/helpers/catbusd.ts";
import { cpuSeconds } from "./proc.ts";
import type { Endpoints } from "./drivers.ts";
import type { Task } from "./load.ts";

const { values: o } = parseArgs({
  args: Deno.args,
  options: {
    transport: { type: "string", default: "tcp" },
    namespace: { type: "string", default: "stored" },
    rate: { type: "string", default: "10000" },
    seconds: { type: "string", default: "5" },
    size: { type: "string", default: "128" },
    runs: { type: "string", default: "2" },
    server: { type: "string" },
    "v8-flags": { type: "string" },
    "gc-log": { type: "string" },
  },
});
if (!["tcp", "ws"].includes(o.transport) || !["stored", "ephemeral"].includes(o.namespace)) {
  throw new Error("--transport takes tcp or ws, --namespace stored or ephemeral");
}
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const main = o.server ? `${o.server}/src/server/main.ts` : here("../src/server/main.ts");
const server = [
  Deno.execPath(),
  "run",
  "-A",
  "--unstable-net",
  ...(o["v8-flags"] ? [`--v8-flags=${o["v8-flags"]}`] : []),
  main,
];
const catbus = await startCatbusd(
  ["--fsync", "never", "--outbound-bytes", "64MiB", "--heartbeat", "2m"],
  {
    // The launcher drops catbusd's stdout; a shell in between keeps it (exec: the pid stays).
    command: o["gc-log"] ? ["sh", "-c", 'exec "$@" > "$0"', o["gc-log"], ...server] : server,
  },
);
try {
  await catbus.cli(["namespace", "add", "live", "--ephemeral"]);
  const ep: Endpoints = {
    catbusTcp: catbus.tcpUrl,
    catbusWs: catbus.wsUrl,
    catbusToken: catbus.adminKey,
    nats: "",
    redis: "",
    socketio: "",
  };
  const run = async (task: Task) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", here("./load.ts"), JSON.stringify(task)],
      stderr: "inherit",
    }).output();
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  };
  const subject = o.namespace === "stored" ? "bench.x" : "live.x";
  // An admin publish creates the stored namespace.
  await run({ role: "pub", system: "catbus-tcp", ep, subject, conns: 1, count: 1, size: 16 });
  /** catbusd's loop delay (ms) since the last call (its metrics reset at every scrape). */
  const loopDelay = async () => {
    const text = await (await fetch(`${catbus.httpUrl}/metrics`, {
      headers: { authorization: `Bearer ${catbus.adminKey}` },
    })).text();
    const ms = (name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN) * 1000;
    return {
      p99: ms("nodejs_eventloop_lag_p99_seconds"),
      max: ms("nodejs_eventloop_lag_max_seconds"),
    };
  };
  const round = (x: number) => Math.round(x * 100) / 100;
  for (let i = 0; i < Number(o.runs); i++) {
    await loopDelay();
    const cpuBefore = await cpuSeconds(catbus.pid);
    const r = await run({
      role: "latency",
      system: o.transport === "tcp" ? "catbus-tcp" : "catbus-ws",
      ep,
      subject,
      rate: Number(o.rate),
      seconds: Number(o.seconds),
      size: Number(o.size),
    });
    const cpu = (await cpuSeconds(catbus.pid) - cpuBefore) / r.sent * 1e6;
    const server = await loopDelay();
    console.log(JSON.stringify({
      run: i,
      received: r.received,
      p50: round(r.p50),
      p99: round(r.p99),
      p999: round(r.p999),
      generatorLoopMax: round(r.loopMax),
      catbusdLoopP99: round(server.p99),
      catbusdLoopMax: round(server.max),
      cpuPerM: round(cpu),
    }));
  }
} finally {
  await catbus.stop();
}
