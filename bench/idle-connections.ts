/**
 * Server memory per idle WebSocket connection (BENCHMARKS.md scenario 6), on a fresh server:
 *
 *   deno run -A bench/idle-connections.ts [--conns 10000] [--servers catbus,deno-ws,deno-tcp]
 *     [--snapshot FILE]
 *
 * `catbus` is a fresh catbusd whose clients (the Catbus client over the `ws` package, as in
 * scenario 6) each wait for their welcome; `deno-ws` is a bare Deno.serve +
 * Deno.upgradeWebSocket server; `deno-tcp` a bare accept loop keeping one 16 KiB read pending
 * per socket, and `deno-tcp-N` the same with an N-byte read (`deno-tcp-1`: the floor Deno itself
 * imposes). The
 * connections are opened by two generator processes (this file with `--hold`). Before and after,
 * the server collects garbage and reports Deno.memoryUsage() (bench/peers/memory-probe.ts); RSS
 * is read from /proc. `--snapshot FILE` writes catbusd's heap snapshot with the connections open.
 */
import { fileURLToPath } from "node:url";
import { WebSocket as NodeWebSocket } from "ws";
import { startCatbusd } from "../test/helpers/catbusd.ts";
import { type BenchConn, connectTo, type Endpoints } from "./drivers.ts";
import { rssKiB } from "./proc.ts";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const deno = Deno.execPath();
const GENERATORS = 2;
/** Connections a generator opens at once. */
const CONCURRENCY = 64;
/** How long the server is left alone before each reading (`--settle-ms`). */
let settleMs = 2000;

/** `deno-tcp-N`: the bare accept loop with reads of N bytes. */
type Kind = "catbus" | "deno-ws" | "deno-tcp" | `deno-tcp-${number}`;

interface Memory {
  rssKiB: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

interface ProbedServer {
  /** Where the generators connect: a ws:// URL, or host:port for raw TCP. */
  url: string;
  token: string;
  pid: number;
  /** Collects garbage in the server and reads its memory. */
  memory(): Promise<Memory>;
  stop(): Promise<void>;
}

/** Reads the `memory {json}` lines a probed server prints on stderr, one per SIGUSR2. */
function memoryReader(pid: number, log: () => string) {
  let seen = 0;
  return async (): Promise<Memory> => {
    Deno.kill(pid, "SIGUSR2");
    const deadline = Date.now() + 60_000;
    for (;;) {
      const lines = log().match(/^memory \{.*\}$/gm) ?? [];
      if (lines.length > seen) {
        const usage = JSON.parse(lines[seen++].slice("memory ".length));
        return {
          rssKiB: await rssKiB(pid),
          heapUsed: usage.heapUsed,
          heapTotal: usage.heapTotal,
          external: usage.external,
        };
      }
      if (Date.now() > deadline) throw new Error("the server did not report its memory");
      await new Promise((r) => setTimeout(r, 50));
    }
  };
}

async function startProbedCatbus(snapshot?: string): Promise<ProbedServer> {
  const server = await startCatbusd([], {
    command: [
      deno,
      "run",
      "-A",
      "--unstable-net",
      "--v8-flags=--expose-gc",
      here("./peers/catbusd-probed.ts"),
    ],
    env: snapshot ? { BENCH_HEAP_SNAPSHOT: snapshot } : {},
  });
  return {
    url: server.wsUrl,
    token: server.adminKey,
    pid: server.pid,
    memory: memoryReader(server.pid, () => server.log()),
    stop: () => server.stop(),
  };
}

async function startBare(kind: "tcp" | "websocket", readBytes = 16384): Promise<ProbedServer> {
  const child = new Deno.Command(deno, {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      here("./peers/bare-deno.ts"),
      kind,
      String(readBytes),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) log += chunk;
  })();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let port: string | undefined;
  while (!port) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`bare-deno.ts ${kind} exited: ${log}`);
    out += value;
    port = /listening (\d+)/.exec(out)?.[1];
  }
  return {
    url: kind === "tcp" ? `127.0.0.1:${port}` : `ws://127.0.0.1:${port}`,
    token: "",
    pid: child.pid,
    memory: memoryReader(child.pid, () => log),
    async stop() {
      child.kill("SIGKILL");
      await child.status;
      await lines.cancel();
    },
  };
}

// ---------- generator: `idle-connections.ts --hold KIND URL COUNT TOKEN` ----------

function openOne(kind: Kind, url: string, token: string): Promise<() => void> {
  if (kind === "catbus") {
    const ep = { catbusWs: url, catbusToken: token } as Endpoints;
    return connectTo("catbus-ws", ep).then((c: BenchConn) => () => void c.close());
  }
  if (kind === "deno-ws") {
    const socket = new NodeWebSocket(url);
    return new Promise((resolve, reject) => {
      socket.once("open", () => resolve(() => socket.terminate()));
      socket.once("error", reject);
    });
  }
  const [hostname, port] = url.split(":");
  return Deno.connect({ hostname, port: Number(port) }).then((c) => () => c.close());
}

async function hold(kind: Kind, url: string, count: number, token: string) {
  const closers: (() => void)[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < count) {
      next++;
      closers.push(await openOne(kind, url, token));
    }
  }));
  console.log("ready");
  for await (const _ of Deno.stdin.readable) { /* until the orchestrator closes stdin */ }
  for (const close of closers) close();
  Deno.exit(0);
}

function startGenerator(kind: Kind, server: ProbedServer, count: number) {
  const child = new Deno.Command(deno, {
    args: [
      "run",
      "-A",
      here("./idle-connections.ts"),
      "--hold",
      kind,
      server.url,
      String(count),
      server.token,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const ready = (async () => {
    let text = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (text.includes("ready\n")) return;
    }
    throw new Error(`a generator for ${kind} failed (exit ${(await child.status).code})`);
  })();
  return {
    ready,
    async stop() {
      await child.stdin.close();
      await child.status;
    },
  };
}

// ---------- orchestrator ----------

async function measure(kind: Kind, conns: number, snapshot?: string) {
  const server = kind === "catbus" ? await startProbedCatbus(snapshot) : await startBare(
    kind === "deno-ws" ? "websocket" : "tcp",
    Number(/^deno-tcp-(\d+)$/.exec(kind)?.[1] ?? 16384),
  );
  try {
    await new Promise((r) => setTimeout(r, settleMs));
    const before = await server.memory();
    const gens = Array.from(
      { length: GENERATORS },
      () => startGenerator(kind, server, conns / GENERATORS),
    );
    await Promise.all(gens.map((g) => g.ready));
    await new Promise((r) => setTimeout(r, settleMs));
    const after = await server.memory();
    await Promise.all(gens.map((g) => g.stop()));
    const per = (a: number, b: number) => +(((a - b) / conns) / 1024).toFixed(2);
    return {
      server: kind,
      connections: conns,
      rssGrowthMiB: +((after.rssKiB - before.rssKiB) / 1024).toFixed(1),
      rssKiBPerConn: +((after.rssKiB - before.rssKiB) / conns).toFixed(2),
      heapKiBPerConn: per(after.heapUsed, before.heapUsed),
      heapTotalKiBPerConn: per(after.heapTotal, before.heapTotal),
      externalKiBPerConn: per(after.external, before.external),
    };
  } finally {
    await server.stop();
  }
}

if (Deno.args[0] === "--hold") {
  const [, kind, url, count, token] = Deno.args;
  await hold(kind as Kind, url, Number(count), token ?? "");
} else {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(name);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const conns = Number(arg("--conns") ?? 10_000);
  settleMs = Number(arg("--settle-ms") ?? settleMs);
  if (!(conns >= GENERATORS) || conns % GENERATORS) throw new Error("--conns takes an even number");
  const kinds = (arg("--servers") ?? "catbus,deno-ws,deno-tcp,deno-tcp-1").split(",") as Kind[];
  console.log(
    "| server | connections | RSS growth | RSS per connection | JS heap per connection | external per connection |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const kind of kinds) {
    const r = await measure(kind, conns, arg("--snapshot"));
    console.log(
      `| ${r.server} | ${
        conns.toLocaleString("en")
      } | ${r.rssGrowthMiB} MiB | ${r.rssKiBPerConn} KiB | ${r.heapKiBPerConn} KiB | ${r.externalKiBPerConn} KiB |`,
    );
    console.error(JSON.stringify(r));
  }
}
