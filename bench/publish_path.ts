/**
 * The server's cost per message on the native publish path, without the kernel or a load
 * generator: `deno run -A bench/publish_path.ts [subscribers] [messages]` (default 1 and
 * 400000). Native sessions on a broker with an ephemeral namespace, as catbusd builds them: a
 * publisher session is fed reads of 1,000 fire-and-forget 128 B publishes (each read a fresh
 * buffer, as the TCP transport hands them), and every subscriber session writes to a sink that
 * only counts bytes. Prints this process's CPU seconds per million messages (deliveries, with
 * several subscribers) and the rate. Steadier than the end-to-end harness on a busy machine:
 * compare two trees by running it from each in turn.
 */
import { cpuUsage } from "node:process";
import { Broker } from "../src/core/broker.ts";
import { Session } from "../src/protocol/session.ts";
import { sessionHost } from "../test/helpers/session-host.ts";
import { encodeFrame, Flag, FrameType } from "../client/shared/frame.ts";
import { PROTOCOL_VERSION } from "../client/shared/messages.ts";

const subscribers = Number(Deno.args[0] ?? 1);
const messages = Number(Deno.args[1] ?? 400_000);
const PER_READ = 1000;

const broker = new Broker({ history: { maxMessages: 10_000, maxBytes: 64 << 20 } });
await broker.createNamespace("live");
const host = sessionHost(broker, {
  clientId: "bench",
  kind: "sub",
  grants: [{ pattern: ">", permission: "read" }, { pattern: ">", permission: "write" }],
}, { maxPayload: 1 << 20, outboundBytes: 64 << 20, heartbeatMs: 60_000 });

let written = 0;
const open = (): Session =>
  new Session(host, {
    remote: "bench",
    write: (batch) => {
      written += batch.length;
    },
    close: () => {},
  });
/** After the microtasks queued so far: the subscribers' queues are written from one. */
const turn = () => Promise.resolve();

const sessions = Array.from({ length: subscribers }, open);
const publisher = open();
for (const s of [...sessions, publisher]) {
  s.receive(encodeFrame(FrameType.Hello, 1, { version: PROTOCOL_VERSION, token: "t" }));
}
await new Promise((resolve) => setTimeout(resolve, 10)); // hello's authentication settles
for (const s of sessions) s.receive(encodeFrame(FrameType.Subscribe, 2, { pattern: "live.x" }));
await new Promise((resolve) => setTimeout(resolve, 10));

const publish = encodeFrame(
  FrameType.Publish,
  0,
  { channel: "live.x" },
  new Uint8Array(128).fill(97),
  Flag.Binary,
);
const read = new Uint8Array(publish.length * PER_READ);
for (let i = 0; i < PER_READ; i++) read.set(publish, i * publish.length);

async function run(count: number): Promise<{ cpu: number; seconds: number }> {
  const cpu = cpuUsage(), start = performance.now();
  for (let sent = 0; sent < count; sent += PER_READ) {
    publisher.receive(read.slice());
    await turn();
  }
  const used = cpuUsage(cpu);
  return { cpu: (used.user + used.system) / 1e6, seconds: (performance.now() - start) / 1000 };
}

await run(messages / 4); // warm-up
written = 0;
const { cpu, seconds } = await run(messages);
if (written === 0) throw new Error("nothing was delivered");
const deliveries = messages * subscribers;
console.log(JSON.stringify({
  subscribers,
  messages,
  cpuPerM: cpu / deliveries * 1e6,
  perSecond: Math.round(deliveries / seconds),
}));
Deno.exit(0);
