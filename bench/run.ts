/**
 * The benchmark harness: `npm run bench` prints a report of every scenario (`--out FILE` also
 * writes it to FILE); `npm run bench -- --quick` (a few seconds per scenario: a smoke check that
 * the harness still works); `--runs N` sets how many counted runs each figure takes (a shorter
 * full run on a busy machine); `--only 1,2,3` runs those scenarios alone, against one catbusd as
 * the full run does. BENCHMARKS.md is written by hand from such runs, each section naming the
 * command that produced its figures, so a run never overwrites its analyses.
 *
 * Catbus, NATS (core and JetStream), Redis (pub/sub and streams) and Socket.IO each run as their
 * own server process; load generators (bench/load.ts) run in separate processes, all in Deno,
 * all on 127.0.0.1. Every scenario runs several times; the report gives medians with min–max
 * and the ratio Catbus / peer.
 */
import { fileURLToPath } from "node:url";
import type { Endpoints, SystemName } from "./drivers.ts";
import type { Task } from "./load.ts";
import { startCatbusd } from "../test/helpers/catbusd.ts";
import { cpuSeconds, listenerPid, rssKiB } from "./proc.ts";

const quick = Deno.args.includes("--quick");
/** `--out FILE`: the report is also written there. */
const outFlag = Deno.args.indexOf("--out");
const outFile = outFlag >= 0 ? Deno.args[outFlag + 1] : undefined;
const isCatbus = (r: { system: string }) => r.system.startsWith("catbus");
/** Counted runs per figure (after one warm-up run): `--runs N`, 3 by default, 1 with --quick. */
const runsFlag = Deno.args.indexOf("--runs");
const RUNS = runsFlag >= 0 ? Number(Deno.args[runsFlag + 1]) : quick ? 1 : 3;
if (!(RUNS >= 1)) throw new Error("--runs takes a number of runs, at least 1");
/**
 * `--only 1,2,3`: these scenarios alone, in the harness's order, against one catbusd (scenario 8
 * reads what 5 stored). Without it, every scenario.
 */
const onlyFlag = Deno.args.indexOf("--only");
const subset = onlyFlag >= 0 ? new Set(Deno.args[onlyFlag + 1]?.split(",").map(Number)) : undefined;
if (subset && ![...subset].every((n) => [1, 2, 3, 4, 5, 6, 8].includes(n))) {
  throw new Error("--only takes scenario numbers separated by commas: 1,2,3,4,5,6,8");
}
const only = (scenario: number) => !subset || subset.has(scenario);
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const deno = Deno.execPath();

// ---------- servers ----------

interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function spawnUntil(
  cmd: string,
  args: string[],
  pattern: RegExp,
): Promise<{ child: Deno.ChildProcess; match: RegExpExecArray }> {
  const child = new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  })
    .spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const errs = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const drain = async (r: ReadableStreamDefaultReader<string>) => {
    for (;;) {
      const { value, done } = await r.read();
      if (done) return;
      seen += value;
    }
  };
  drain(errs);
  for (;;) {
    const m = pattern.exec(seen);
    if (m) {
      drain(reader);
      return { child, match: m };
    }
    const { value, done } = await reader.read();
    if (done) {
      await new Promise((r) => setTimeout(r, 50));
      const late = pattern.exec(seen);
      if (late) return { child, match: late };
      throw new Error(`${cmd} exited: ${seen}`);
    }
    seen += value;
  }
}

/** What the current catbusd logged, shown when a scenario fails (why a connection closed). */
let catbusLog = () => "";

/** A fresh catbusd on free ports (the same launcher the end-to-end tests use). */
async function startCatbus(fsync: string) {
  const server = await startCatbusd([
    "--fsync",
    fsync,
    "--outbound-bytes",
    "64MiB",
    // The load generators ping every 2 minutes (bench/load.ts); with the default 15 s, catbusd
    // drops a connection it heard nothing from for 45 s: a fan-in subscriber that only
    // receives, or every client after the server itself stalled that long.
    "--heartbeat",
    "2m",
  ]);
  // The like-for-like peer of NATS core: a namespace that stores nothing.
  const declared = await server.cli([
    "namespace",
    "add",
    EPHEMERAL,
    "--ephemeral",
  ]);
  if (declared.code !== 0) {
    throw new Error(`catbus namespace add failed: ${declared.stderr}`);
  }
  catbusLog = () => server.log();
  return {
    ws: server.wsUrl,
    tcp: server.tcpUrl,
    http: server.httpUrl,
    token: server.adminKey,
    pid: server.pid,
    stop: () => server.stop(),
  };
}

async function startSocketIo(): Promise<Server> {
  const { child, match } = await spawnUntil(
    "node",
    [here("./peers/socketio-server.mjs")],
    /listening (\d+)/,
  );
  return {
    url: `http://127.0.0.1:${match[1]}`,
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

async function reachable(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** The ephemeral (memory-only) namespace the harness declares; `bench` is stored. */
const EPHEMERAL = "live";

/**
 * catbusd's event-loop delay (ms) since the last call: its metrics report the delay histogram
 * of prom-client's monitor and reset it at every scrape.
 */
async function catbusLoopDelay(
  catbus: { http: string; token: string },
): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`${catbus.http}/metrics`, {
    headers: { authorization: `Bearer ${catbus.token}` },
  })).text();
  const seconds = (name: string) =>
    Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
  return {
    p99: seconds("nodejs_eventloop_lag_p99_seconds") * 1000,
    max: seconds("nodejs_eventloop_lag_max_seconds") * 1000,
  };
}

// ---------- load generators ----------

interface Running {
  ready: Promise<void>;
  result: Promise<Record<string, number>>;
  closeStdin(): Promise<void>;
}

function runLoad(task: Task): Running {
  const child = new Deno.Command(deno, {
    args: ["run", "-A", here("./load.ts"), JSON.stringify(task)],
    stdout: "piped",
    stderr: "inherit",
    stdin: "piped",
  }).spawn();
  const ready = Promise.withResolvers<void>();
  const result = (async () => {
    let text = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      text += chunk;
      if (text.includes("ready\n")) ready.resolve();
    }
    const status = await child.status;
    const last = text.trim().split("\n").pop() ?? "";
    if (!status.success || !last.startsWith("{")) {
      throw new Error(
        `load generator failed (${task.role} ${task.system}): ${text}`,
      );
    }
    ready.resolve();
    return JSON.parse(last);
  })();
  result.catch(() => ready.resolve());
  return {
    ready: ready.promise,
    result,
    closeStdin: () => child.stdin.close(),
  };
}

async function run(task: Task) {
  return await runLoad(task).result;
}

// ---------- statistics ----------

interface Stat {
  median: number;
  min: number;
  max: number;
}
const stat = (xs: number[]): Stat => {
  const s = [...xs].sort((a, b) => a - b);
  return {
    median: s[Math.floor(s.length / 2)],
    min: s[0],
    max: s[s.length - 1],
  };
};
async function repeat(fn: () => Promise<number>): Promise<Stat> {
  if (!quick) await fn(); // warm-up run, not counted
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(await fn());
  return stat(xs);
}
/** A figure and its server's cost: CPU seconds per million messages (median of counted runs). */
type Costed = Stat & { cpuPerM: number; failed?: string };
/**
 * `repeat`, also reading the serving process's CPU time (`pid`, when known) around each run;
 * `fn` returns its rate and how many messages the server handled.
 */
async function repeatCosted(
  pid: number | undefined,
  fn: () => Promise<{ rate: number; messages: number }>,
): Promise<Costed> {
  const costs: number[] = [];
  const used = async () => pid === undefined ? NaN : await cpuSeconds(pid);
  const rate = await repeat(async () => {
    const before = await used();
    const { rate, messages } = await fn();
    costs.push((await used() - before) / messages * 1e6);
    return rate;
  });
  return { ...rate, cpuPerM: stat(costs.slice(quick ? 0 : 1)).median };
}
/**
 * A figure whose run failed (on a loaded machine a scenario can lose a connection) is reported
 * as failed, with its reason, and the harness goes on with the next one.
 */
async function orFailed(figure: Promise<Costed>): Promise<Costed> {
  try {
    return await figure;
  } catch (e) {
    const reason = (e as Error).message.split("\n")[0];
    console.error(`a run failed: ${reason}\n${catbusLog().split("\n").slice(-10).join("\n")}`);
    return { median: NaN, min: NaN, max: NaN, cpuPerM: NaN, failed: reason };
  }
}
const fmtRatio = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "");
const fmtRate = (s: Stat & { failed?: string }) =>
  s.failed
    ? `failed: ${s.failed}`
    : `${Math.round(s.median).toLocaleString("en")} (${Math.round(s.min).toLocaleString("en")}–${
      Math.round(s.max).toLocaleString("en")
    })`;
const fmtMs = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
/** Empty where the server's process could not be read. */
const fmtCpu = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "");

// ---------- scenarios ----------

const lines: string[] = [];
const out = (l = "") => {
  lines.push(l);
  console.log(l);
};

async function machineFacts(): Promise<string[]> {
  const text = async (cmd: string, args: string[]) => {
    try {
      const o = await new Deno.Command(cmd, {
        args,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return new TextDecoder().decode(o.stdout.length ? o.stdout : o.stderr)
        .trim().split("\n")[0];
    } catch {
      return "not found";
    }
  };
  const mem = /MemTotal:\s+(\d+)/.exec(await Deno.readTextFile("/proc/meminfo"))![1];
  return [
    `- CPU: ${navigator.hardwareConcurrency} cores (${await text("sh", [
      "-c",
      "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2",
    ])})`,
    `- Memory: ${(Number(mem) / 1024 / 1024).toFixed(1)} GiB`,
    `- Deno ${Deno.version.deno} (all load generators and catbusd); Node ${await text(
      "node",
      [
        "--version",
      ],
    )} (Socket.IO server)`,
    `- ${await text("nats-server", ["--version"])}; ${await text(
      "redis-server",
      ["--version"],
    )}`,
  ];
}

async function main() {
  const natsUp = await reachable(4222), redisUp = await reachable(6379);
  if (!natsUp || !redisUp) {
    throw new Error(
      `the local NATS (4222: ${natsUp}) and Redis (6379: ${redisUp}) must be running`,
    );
  }
  const sio = await startSocketIo();
  let catbus = await startCatbus("never");
  const ep = (): Endpoints => ({
    catbusTcp: catbus.tcp,
    catbusWs: catbus.ws,
    catbusToken: catbus.token,
    nats: "127.0.0.1:4222",
    redis: "redis://127.0.0.1:6379",
    socketio: sio.url,
  });
  // Catbus needs the namespaces to exist: an admin publish creates them.
  const prime = async () => {
    for (const subject of ["bench.x", "durable.x", `${EPHEMERAL}.x`]) {
      await run({
        role: "pub",
        system: "catbus-tcp",
        ep: ep(),
        subject,
        conns: 1,
        count: 1,
        size: 16,
      });
    }
  };
  await prime();
  const natsPid = await listenerPid(4222), redisPid = await listenerPid(6379);

  out("# Benchmarks");
  out();
  out(
    `Command: \`npm run bench${Deno.args.length ? ` -- ${Deno.args.join(" ")}` : ""}\` (${
      new Date().toISOString().slice(0, 10)
    }). All servers and load generators on 127.0.0.1.`,
  );
  out(
    `Each figure: median of ${RUNS} runs (min–max), after a warm-up run. Catbus runs with \`--fsync never\` except in scenario 4.`,
  );
  out(
    "Server CPU: user + system seconds of the serving process (catbusd, nats-server, redis-server, the Socket.IO node process) read from `/proc/<pid>/stat` around each run, per million messages handled; less sensitive to other load on the machine than a rate.",
  );
  out();
  for (const l of await machineFacts()) out(l);
  out();

  /** One row of scenarios 1–3: a system, and for Catbus which namespace (stored or not). */
  interface Row {
    key: string;
    label: string;
    system: SystemName;
    subject: string;
  }
  const row = (
    key: string,
    label: string,
    system: SystemName,
    subject = "bench.x",
  ): Row => ({
    key,
    label,
    system,
    subject,
  });
  const live = `${EPHEMERAL}.x`;
  const rows: Row[] = [
    row("catbus-tcp", "Catbus TCP, stored", "catbus-tcp"),
    row("catbus-tcp-eph", "Catbus TCP, ephemeral", "catbus-tcp", live),
    row("catbus-ws", "Catbus WebSocket, stored", "catbus-ws"),
    row("catbus-ws-eph", "Catbus WebSocket, ephemeral", "catbus-ws", live),
    row("nats", "NATS core", "nats"),
    row("redis", "Redis pub/sub", "redis"),
    row("socketio", "Socket.IO", "socketio"),
  ];
  /** The process serving a system (NATS core and JetStream are one nats-server). */
  const serverPid = (system: SystemName | "jetstream" | "redis-streams" | "catbus") =>
    system.startsWith("catbus") ? catbus.pid : {
      nats: natsPid,
      jetstream: natsPid,
      redis: redisPid,
      "redis-streams": redisPid,
      socketio: sio.pid,
    }[
      system as "nats"
    ];
  /** Runs a scenario `repeat`s, with its server's CPU per message. */
  const measure = (
    r: Row,
    fn: () => Promise<{ rate: number; messages: number }>,
  ) => repeatCosted(serverPid(r.system), fn);
  /** `count` messages of 128 B from each of `conns` publishers of the row's system. */
  const publishRow = (r: Row, conns: number, count: number) =>
    run({ role: "pub", system: r.system, ep: ep(), subject: r.subject, conns, count, size: 128 });
  const N1 = quick ? 20_000 : 400_000;

  // Scenario 1
  if (only(1)) {
    out("## 1. One publisher → one subscriber, 128 B, maximum rate");
    out();
    out("| system | msg/s | system / NATS core | server CPU s per 1M msgs |");
    out("|---|---|---|---|");
    const s1: Record<string, Stat & { cpuPerM: number }> = {};
    for (const r of rows) {
      const n = r.system === "socketio" || r.system === "redis" ? Math.round(N1 / 4) : N1;
      s1[r.key] = await measure(r, async () => {
        const sub = runLoad({
          role: "sub",
          system: r.system,
          ep: ep(),
          subject: r.subject,
          conns: 1,
          expect: n,
          timeoutMs: 60_000,
        });
        await sub.ready;
        await publishRow(r, 1, n);
        const result = await sub.result;
        return { rate: result.received / result.seconds, messages: n };
      });
    }
    for (const r of rows) {
      out(
        `| ${r.label} | ${fmtRate(s1[r.key])} | ${
          (s1[r.key].median / s1.nats.median).toFixed(2)
        } | ${fmtCpu(s1[r.key].cpuPerM)} |`,
      );
    }
    out(
      `\nCatbus WebSocket / Socket.IO: ${
        (s1["catbus-ws"].median / s1.socketio.median).toFixed(2)
      } stored, ${(s1["catbus-ws-eph"].median / s1.socketio.median).toFixed(2)} ephemeral.`,
    );
    out();
  }

  // Scenario 2
  if (only(2)) {
    out("## 2. Fan-out and fan-in, 128 B");
    out();
    out(
      "| system | 1 → 100 subscribers (deliveries/s) | / NATS | 100 publishers → 1 (msg/s) | / NATS | server CPU s per 1M deliveries (out / in) |",
    );
    out("|---|---|---|---|---|---|");
    const fanRows = rows.filter((r) =>
      ["catbus-tcp", "catbus-tcp-eph", "nats", "redis"].includes(r.key)
    );
    const s2: Record<
      string,
      [Stat & { cpuPerM: number }, Stat & { cpuPerM: number }]
    > = {};
    for (const r of fanRows) {
      const per = quick ? 500 : 20_000;
      const fanOut = await orFailed(measure(r, async () => {
        const subs = Array.from(
          { length: 4 },
          () =>
            runLoad({
              role: "sub",
              system: r.system,
              ep: ep(),
              subject: r.subject,
              conns: 25,
              expect: per,
              timeoutMs: 60_000,
            }),
        );
        await Promise.all(subs.map((s) => s.ready));
        await publishRow(r, 1, per);
        const rs = await Promise.all(subs.map((s) => s.result));
        const received = rs.reduce((n, x) => n + x.received, 0);
        return {
          rate: received / Math.max(...rs.map((x) => x.seconds)),
          messages: received,
        };
      }));
      const perPub = quick ? 200 : 4_000;
      const fanIn = await orFailed(measure(r, async () => {
        const sub = runLoad({
          role: "sub",
          system: r.system,
          ep: ep(),
          subject: r.subject,
          conns: 1,
          expect: perPub * 100,
          timeoutMs: 60_000,
        });
        await sub.ready;
        await Promise.all(
          Array.from({ length: 4 }, () => publishRow(r, 25, perPub)),
        );
        const result = await sub.result;
        return { rate: result.received / result.seconds, messages: perPub * 100 };
      }));
      s2[r.key] = [fanOut, fanIn];
    }
    for (const r of fanRows) {
      const [fanOut, fanIn] = s2[r.key];
      out(
        `| ${r.label} | ${fmtRate(fanOut)} | ${fmtRatio(fanOut.median / s2.nats[0].median)} | ${
          fmtRate(fanIn)
        } | ${fmtRatio(fanIn.median / s2.nats[1].median)} | ${`${fmtCpu(fanOut.cpuPerM)} / ${
          fmtCpu(fanIn.cpuPerM)
        }`} |`,
      );
    }
    out();
  }

  // Scenario 3
  if (only(3)) {
    out("## 3. Latency at fixed offered rates (ms: p50 / p99 / p99.9)");
    out();
    const cases = [[128, 1_000], [128, 10_000], [128, 50_000], [1024, 10_000], [
      65536,
      1_000,
    ]] as const;
    out(
      `| system | ${cases.map(([size, rate]) => `${size} B @ ${rate / 1000}k/s`).join(" | ")} |`,
    );
    out(`|---|${cases.map(() => "---").join("|")}|`);
    /** Where each system's 128 B @ 10k/s tail comes from (the p99 target's case). */
    const tails: string[] = [];
    const latencyRun = (r: Row, size: number, rate: number, seconds: number) =>
      run({ role: "latency", system: r.system, ep: ep(), subject: r.subject, rate, seconds, size });
    for (const r of rows) {
      // A warm-up second per row, not counted: the first cells a server serves pay its JIT.
      if (!quick) await latencyRun(r, 128, 10_000, 1).catch(() => {});
      const cells: string[] = [];
      for (const [size, rate] of cases) {
        const traced = size === 128 && rate === 10_000;
        const pid = serverPid(r.system);
        const cpuBefore = traced && pid !== undefined ? await cpuSeconds(pid) : NaN;
        if (traced && isCatbus(r)) await catbusLoopDelay(catbus); // starts its window
        let result: Record<string, number>;
        try {
          result = await latencyRun(r, size, rate, quick ? 0.5 : 3);
        } catch (e) {
          // On a loaded machine a generator can fail (a Socket.IO connect timing out): that is
          // one failed cell, not the end of the run.
          cells.push(`failed: ${(e as Error).message.split("\n")[0]}`);
          continue;
        }
        const cell = `${fmtMs(result.p50)} / ${fmtMs(result.p99)} / ${fmtMs(result.p999)}`;
        if (traced) {
          const server = isCatbus(r) ? await catbusLoopDelay(catbus) : undefined;
          const cpu = pid === undefined ? NaN : await cpuSeconds(pid) - cpuBefore;
          tails.push(
            `| ${r.label} | ${fmtMs(result.p99)} | ${fmtMs(result.loopP99)} / ${
              fmtMs(result.loopMax)
            } | ${server ? `${fmtMs(server.p99)} / ${fmtMs(server.max)}` : ""} | ${
              fmtCpu(cpu / result.sent * 1e6)
            } |`,
          );
        }
        cells.push(
          result.received < result.sent ? `${cell} (lost ${result.sent - result.received})` : cell,
        );
      }
      out(`| ${r.label} | ${cells.join(" | ")} |`);
    }
    out();
    out(
      "Where the 128 B @ 10k/s tail comes from: the load generator's own event-loop delay " +
        "(publisher and subscriber share its process; a late timer or callback there delays " +
        "the sample), catbusd's (its `nodejs_eventloop_lag_*` metrics over the run), and the " +
        "server's CPU per message at this rate.",
    );
    out();
    out(
      "| system | p99 (ms) | generator loop delay p99 / max (ms) | catbusd loop delay p99 / max (ms) | server CPU s per 1M msgs |",
    );
    out("|---|---|---|---|---|");
    for (const l of tails) out(l);
    out();
  }

  // Scenario 6 (before the durable runs restart catbusd)
  if (only(6)) {
    out("## 6. Idle WebSocket connections: server memory");
    out();
    out("| system | connections | RSS growth | per connection |");
    out("|---|---|---|---|");
    const idleConns = quick ? 400 : 10_000;
    for (
      const [system, pid] of [["catbus-ws", catbus.pid], [
        "socketio",
        sio.pid,
      ]] as const
    ) {
      const before = await rssKiB(pid);
      const gens = Array.from(
        { length: 4 },
        () => runLoad({ role: "idle", system, ep: ep(), conns: idleConns / 4 }),
      );
      await Promise.all(gens.map((g) => g.ready));
      await new Promise((r) => setTimeout(r, 500)); // let the server settle its buffers
      const after = await rssKiB(pid);
      await Promise.all(gens.map(async (g) => {
        await g.closeStdin();
        await g.result;
      }));
      const per = ((after - before) / idleConns).toFixed(1);
      out(
        `| ${system === "socketio" ? "Socket.IO" : "Catbus WebSocket"} | ${
          idleConns.toLocaleString("en")
        } | ${((after - before) / 1024).toFixed(1)} MiB | ${per} KiB |`,
      );
    }
    out();
  }

  // Scenario 4
  if (only(4)) {
    out("## 4. Durable publish with acknowledgements, 128 B, 256 in flight");
    out();
    out("| system | acked msg/s | server CPU s per 1M msgs |");
    out("|---|---|---|");
    const countDurable = quick ? 5_000 : 200_000;
    const s4: Record<string, Costed> = {};
    for (const fsync of ["always", "interval:5"]) {
      await catbus.stop();
      catbus = await startCatbus(fsync);
      await prime();
      s4[fsync] = await repeatCosted(serverPid("catbus"), async () => {
        const r = await run({
          role: "durable",
          system: "catbus",
          ep: ep(),
          count: countDurable,
          size: 128,
          window: 256,
        });
        return { rate: r.acked / r.seconds, messages: r.acked };
      });
      out(`| Catbus fsync ${fsync} | ${fmtRate(s4[fsync])} | ${fmtCpu(s4[fsync].cpuPerM)} |`);
    }
    for (const system of ["jetstream", "redis-streams"] as const) {
      s4[system] = await repeatCosted(serverPid(system), async () => {
        const r = await run({
          role: "durable",
          system,
          ep: ep(),
          count: countDurable,
          size: 128,
          window: 256,
        });
        return { rate: r.acked / r.seconds, messages: r.acked };
      });
      out(
        `| ${
          system === "jetstream"
            ? "NATS JetStream (file storage, async publish)"
            : "Redis streams XADD"
        } | ${fmtRate(s4[system])} | ${fmtCpu(s4[system].cpuPerM)} |`,
      );
    }
    out(
      `\nCatbus interval:5 / JetStream: ${
        (s4["interval:5"].median / s4.jetstream.median).toFixed(2)
      }; Catbus always / JetStream: ${(s4.always.median / s4.jetstream.median).toFixed(2)}.`,
    );
    out();
  }

  // Scenario 5
  if (only(5)) {
    out("## 5. Replay of stored messages to a new subscriber, 128 B");
    out();
    const stored = quick ? 20_000 : 1_000_000;
    out(`| system | ${stored.toLocaleString("en")} messages, msg/s | server CPU s per 1M msgs |`);
    out("|---|---|---|");
    await catbus.stop();
    catbus = await startCatbus("never");
    await prime();
    await run({
      role: "pub",
      system: "catbus-tcp",
      ep: ep(),
      subject: "durable.x",
      conns: 1,
      count: stored - 1,
      size: 128,
    });
    await run({
      role: "durable",
      system: "jetstream",
      ep: ep(),
      count: stored,
      size: 128,
      window: 512,
    });
    await run({
      role: "durable",
      system: "redis-streams",
      ep: ep(),
      count: stored,
      size: 128,
      window: 512,
    });
    for (const system of ["catbus", "jetstream", "redis-streams"] as const) {
      const s = await repeatCosted(serverPid(system), async () => {
        const r = await run({
          role: "replay",
          system,
          ep: ep(),
          count: stored,
          timeoutMs: 120_000,
        });
        return { rate: r.received / r.seconds, messages: r.received };
      });
      out(
        `| ${
          {
            catbus: "Catbus",
            jetstream: "NATS JetStream",
            "redis-streams": "Redis XRANGE",
          }[system]
        } | ${fmtRate(s)} | ${fmtCpu(s.cpuPerM)} |`,
      );
    }
    out();
  }

  // Scenario 8: uses the messages stored for scenario 5.
  if (only(8)) {
    out("## 8. Durable consumer: read and ack every message, 128 B");
    out();
    const consumed = quick ? 10_000 : 200_000;
    out(
      `| system | ${
        consumed.toLocaleString("en")
      } messages acked, msg/s | server CPU s per 1M msgs |`,
    );
    out("|---|---|---|");
    const s8: Record<string, Costed> = {};
    for (const system of ["catbus", "jetstream", "redis-streams"] as const) {
      s8[system] = await repeatCosted(serverPid(system), async () => {
        const r = await run({
          role: "consume",
          system,
          ep: ep(),
          count: consumed,
          timeoutMs: 120_000,
        });
        return { rate: r.acked / r.seconds, messages: r.acked };
      });
      out(
        `| ${
          {
            catbus: "Catbus consume() (fsync never, state saved after every ack batch)",
            jetstream: "NATS JetStream durable pull consumer, explicit ack",
            "redis-streams": "Redis XREADGROUP + XACK per 1000",
          }[system]
        } | ${fmtRate(s8[system])} | ${fmtCpu(s8[system].cpuPerM)} |`,
      );
    }
    out(
      `\nCatbus / JetStream: ${(s8.catbus.median / s8.jetstream.median).toFixed(2)}.`,
    );
    out();
  }

  await catbus.stop();
  await sio.stop();

  if (!quick && !subset) {
    const log = await new Deno.Command(deno, {
      args: ["run", "-A", here("./log.ts")],
      stdout: "piped",
    }).output();
    out("## Log engine alone");
    out();
    out(
      "Command: `deno run -A bench/log.ts` (64 concurrent appenders, each awaiting its acknowledgement).",
    );
    out();
    out(new TextDecoder().decode(log.stdout).trim());
    out();
    for (
      const [title, script, command] of [
        [
          "9. From a browser: WebTransport and WebSocket",
          "./browser.ts",
          "headless Debian Chromium on the same machine; the page loads /catbus/client.js",
        ],
        [
          "10. State machines: apply-event over RCP",
          "./sm.ts",
          "NATS KV's published figure is about 30k puts/s on an Apple M4",
        ],
        [
          "11. The Pulsar Relay dialect",
          "./pulsar.ts",
          "measured as the original's benchmarks/run_benchmarks.py; its figures are from its " +
          "BENCHMARK_RESULTS.md (macOS, Python 3.13, memory backend, before auth)",
        ],
        [
          "12. Alle door: NOTIFY → WebSocket clients, beside a bare LISTEN client",
          "./alle.ts",
          "PostgreSQL on 127.0.0.1; 100 B payloads; the bare postgres.js LISTEN client receives " +
          "the same NOTIFYs in the same run",
        ],
        [
          "13. Shared engines: two nodes on Valkey or PostgreSQL",
          "./engines.ts",
          "a publisher on node 1, a subscriber on node 2; 128 B; 256 in flight, then 500 msg/s " +
          "for the latency",
        ],
        [
          "14. Several nodes on one Redis: the Valkey engine beside Socket.IO's Redis streams adapter",
          "./cluster.ts",
          "a private redis-server of the run; one node and three, each a process of its own",
        ],
      ]
    ) {
      const result = await new Deno.Command(deno, {
        args: ["run", "-A", here(script)],
        stdout: "piped",
      }).output();
      out(`## ${title}`);
      out();
      out(`Command: \`deno run -A bench/${script.slice(2)}\` (${command}).`);
      out();
      out(new TextDecoder().decode(result.stdout).trim());
      out();
    }
  }
  if (outFile) {
    await Deno.writeTextFile(outFile, lines.join("\n") + "\n");
    console.error(`wrote ${outFile}`);
  }
}

await main().catch((e) => {
  const noted = catbusLog().split("\n").filter((l) => / (warn|error) /.test(l));
  console.error(`catbusd's last warnings and errors:\n${noted.slice(-20).join("\n")}`);
  throw e;
});
