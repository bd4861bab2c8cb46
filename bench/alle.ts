/**
 * The Alle door under load: `node bin/deno.mjs run -A bench/alle.ts` (needs the local PostgreSQL,
 * CATBUS_TEST_DATABASE_URL). NOTIFYs are sent as fast as one connection can (500 `pg_notify` per
 * round trip, 100 B payloads) to 1 and to 100 WebSocket clients of the bridge, and in the same run
 * to a bare postgres.js LISTEN client: the bare client's rate is what PostgreSQL delivers, the
 * bridge's what reaches every WebSocket client through catbusd. Prints a Markdown table.
 */
import postgres from "postgres";
import { startCatbusd } from "../test/helpers/catbusd.ts";
import { testDatabase } from "../test/helpers/postgres.ts";

const RUNS = 3;
const BATCH = 500;
const PAYLOAD = "x".repeat(90);

const db = await testDatabase("bench alle");
if (!db) Deno.exit(1);
const server = await startCatbusd([
  "--alle-bind",
  "127.0.0.1:0",
  "--alle-postgres-url",
  db.url,
  "--outbound-bytes",
  "64MiB",
]);
await server.waitForLog(/alle: connected to PostgreSQL/, 30_000);
const wsUrl = / alle=(\S+)/.exec(server.log())![1];

/** Resolves when `count` notifications arrived; the time of the last one. */
function counter(count: number) {
  let seen = 0;
  let done!: (t: number) => void;
  const finished = new Promise<number>((r) => done = r);
  return {
    finished,
    hit() {
      if (++seen === count) done(performance.now());
    },
  };
}

async function wsClient(
  channel: string,
): Promise<{ ws: WebSocket; onNote: (f: () => void) => void }> {
  const ws = new WebSocket(wsUrl);
  let note = () => {};
  await new Promise((r) => ws.onopen = r);
  const subscribed = new Promise<void>((resolve) => {
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "subscribed") resolve();
      else if (m.type === "notification") note();
    };
  });
  ws.send(JSON.stringify({ type: "subscribe", channel }));
  await subscribed;
  // From here on only notifications come: counted without parsing, so that the 100 clients,
  // all in this one process, cost it as little as possible (it shares the cores with catbusd).
  ws.onmessage = () => note();
  return { ws, onNote: (f) => note = f };
}

async function run(clients: number, total: number, channel: string) {
  const sockets = await Promise.all(Array.from({ length: clients }, () => wsClient(channel)));
  const bare = postgres(db!.url, { onnotice: () => {} });
  const bareCount = counter(total);
  await bare.listen(channel, () => bareCount.hit());
  const bridgeCount = counter(total * clients);
  for (const s of sockets) s.onNote(() => bridgeCount.hit());
  const sender = postgres(db!.url, { max: 1, onnotice: () => {} });
  const statement = (from: number) =>
    Array.from(
      { length: BATCH },
      (_, k) => `select pg_notify('${channel}', '${from + k} ${PAYLOAD}')`,
    )
      .join(";");
  const started = performance.now();
  for (let i = 0; i < total; i += BATCH) await sender.unsafe(statement(i));
  const [bareAt, bridgeAt] = await Promise.all([bareCount.finished, bridgeCount.finished]);
  for (const s of sockets) s.ws.close();
  await bare.end({ timeout: 1 });
  await sender.end({ timeout: 1 });
  return {
    bare: total / ((bareAt - started) / 1000),
    bridge: total / ((bridgeAt - started) / 1000),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const range = (xs: number[]) =>
  `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;

const rows: string[] = [];
for (const [clients, total] of [[1, 50_000], [100, 10_000]] as const) {
  await run(clients, BATCH * 4, `warmup${clients}`);
  const bare: number[] = [];
  const bridge: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const result = await run(clients, total, `bench${clients}_${r}`);
    bare.push(result.bare);
    bridge.push(result.bridge);
  }
  rows.push(
    `| NOTIFY → ${clients} WebSocket client${clients > 1 ? "s" : ""} | ${range(bridge)} | ` +
      `${fmt(median(bridge) * clients)} | ${range(bare)} | ${
        (median(bridge) / median(bare)).toFixed(2)
      } |`,
  );
}
console.log(
  [
    "| scenario | notifications/s to every client (bridge) | deliveries/s (bridge) | bare postgres.js LISTEN, notifications/s | bridge / bare |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n"),
);
await server.stop();
await db[Symbol.asyncDispose]();
