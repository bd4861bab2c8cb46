/**
 * The load side of bench/pulsar.ts, one role per process so the generator has a core of its own
 * while the server has the other: `deno run -A bench/pulsar-load.ts ROLE '<json>'`, one JSON line
 * out. Roles: `ingest` (the original's single, bulk and concurrent scenarios), `subscribe`
 * (WebSocket clients that print `ready` and when they began connecting, then their deliveries), `publish` (the end-to-end
 * producers) and `broadcast` (concurrent POSTs on new connections). Times are milliseconds since
 * the epoch (`now()`), comparable between processes.
 */
import { HttpClient } from "./http-client.ts";

export interface LoadSpec {
  url: string;
  token: string;
  scenario?: "single" | "bulk" | "concurrent";
  topics?: string[];
  perTopic?: number;
  paced?: boolean;
  messages?: number;
  passes?: number;
}

export interface LoadResult {
  start: number;
  end: number;
  count: number;
  latencies: number[];
}

export const now = (): number => performance.timeOrigin + performance.now();

const headers = (token: string) => ({
  authorization: `Bearer ${token}`,
  "content-type": "application/json",
});

async function ok(answer: Promise<{ status: number; body: Uint8Array }>) {
  const { status, body } = await answer;
  if (status !== 201 && status !== 207) {
    throw new Error(`${status}: ${new TextDecoder().decode(body)}`);
  }
}

/** `count` operations `concurrency` at a time, in waves (asyncio.gather per wave, as the original). */
async function waves(
  count: number,
  concurrency: number,
  op: (i: number, slot: number) => Promise<void>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  const start = now();
  for (let i = 0; i < count; i += concurrency) {
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count - i) }, async (_, j) => {
        const t = performance.now();
        await op(i + j, j);
        latencies.push(performance.now() - t);
      }),
    );
  }
  return { start, end: now(), count, latencies };
}

const SCENARIOS = {
  single: {
    path: "/api/v1/messages",
    count: 1000,
    concurrency: 1,
    body: (i: number) => ({
      topic: `benchmark-topic-${i % 10}`,
      payload: { index: i, data: `message-${i}` },
    }),
  },
  bulk: {
    path: "/api/v1/messages/bulk",
    count: 100,
    concurrency: 1,
    body: (b: number) => ({
      messages: Array.from({ length: 50 }, (_, i) => ({
        topic: `benchmark-bulk-${i % 5}`,
        payload: { batch: b, index: i },
      })),
    }),
  },
  concurrent: {
    path: "/api/v1/messages",
    count: 1000,
    concurrency: 20,
    body: (i: number) => ({
      topic: `concurrent-topic-${i % 20}`,
      payload: { index: i, timestamp: Date.now() / 1000 },
    }),
  },
};

/**
 * One ingest scenario: a warm-up pass of the same requests (connections open, code hot), `ready`,
 * then `passes` counted passes (1 as the original; more for a steadier CPU figure).
 */
async function ingest(spec: LoadSpec): Promise<LoadResult> {
  const s = SCENARIOS[spec.scenario!];
  const clients = await Promise.all(
    Array.from({ length: s.concurrency }, () => HttpClient.connect(spec.url, headers(spec.token))),
  );
  const op = (i: number, slot: number) => ok(clients[slot].post(s.path, s.body(i % s.count)));
  await waves(s.count, s.concurrency, op);
  await ready();
  const result = await waves(s.count * (spec.passes ?? 1), s.concurrency, op);
  for (const c of clients) c.close();
  return result;
}

/** One WebSocket per topic given (repeats allowed), each expecting `perTopic` messages. */
async function subscribe(spec: LoadSpec): Promise<LoadResult> {
  const wsUrl = `${spec.url.replace(/^http/, "ws")}/ws?token=${spec.token}`;
  const expected = spec.topics!.length * spec.perTopic!;
  const latencies: number[] = [];
  let end = 0;
  const { promise: all, resolve } = Promise.withResolvers<void>();
  const start = now();
  const sockets = await Promise.all(
    spec.topics!.map((topic) =>
      new Promise<WebSocket>((subscribed, reject) => {
        const ws = new WebSocket(wsUrl);
        ws.onopen = () => ws.send(JSON.stringify({ type: "subscribe", topics: [topic] }));
        ws.onerror = () => reject(new Error("websocket failed"));
        ws.onmessage = (e) => {
          const data = JSON.parse(e.data);
          if (data.type === "subscribed") subscribed(ws);
          else if (data.type === "message") {
            end = now();
            latencies.push(end - data.payload.sent_at);
            if (latencies.length === expected) resolve();
          }
        };
      })
    ),
  );
  console.log(`ready ${start}`);
  await all;
  for (const ws of sockets) ws.close();
  return { start, end, count: latencies.length, latencies };
}

/** Prints `ready`, then waits for the epoch time to start at, one line on standard input. */
async function ready(): Promise<void> {
  console.log("ready");
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error("no start time on standard input");
    text += value;
  }
  lines.releaseLock();
  await new Promise((r) => setTimeout(r, Math.max(0, Number(text) - now())));
}

/** The end-to-end producers: one connection per topic, `perTopic` POSTs each, paced or not. */
async function publish(spec: LoadSpec): Promise<LoadResult> {
  const clients = await Promise.all(
    spec.topics!.map(() => HttpClient.connect(spec.url, headers(spec.token))),
  );
  await ready();
  const start = now();
  await Promise.all(spec.topics!.map(async (topic, t) => {
    for (let i = 0; i < spec.perTopic!; i++) {
      await ok(
        clients[t].post("/api/v1/messages", { topic, payload: { index: i, sent_at: now() } }),
      );
      if (spec.paced) await new Promise((r) => setTimeout(r, 10));
    }
  }));
  for (const c of clients) c.close();
  return { start, end: now(), count: spec.topics!.length * spec.perTopic!, latencies: [] };
}

/** `messages` POSTs at once, each on a connection opened for it (httpx's pool, as the original). */
async function broadcast(spec: LoadSpec): Promise<LoadResult> {
  await ready();
  const start = now();
  await Promise.all(Array.from({ length: spec.messages! }, async (_, i) => {
    const client = await HttpClient.connect(spec.url, headers(spec.token));
    await ok(client.post("/api/v1/messages", {
      topic: spec.topics![0],
      payload: { index: i, sent_at: now() },
    }));
    client.close();
  }));
  return { start, end: now(), count: spec.messages!, latencies: [] };
}

const ROLES = { ingest, subscribe, publish, broadcast };

if (import.meta.main) {
  const [role, json] = Deno.args as [keyof typeof ROLES, string];
  const result = await ROLES[role](JSON.parse(json));
  result.latencies.sort((a, b) => a - b);
  console.log(JSON.stringify(result));
}
