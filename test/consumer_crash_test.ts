import assert from "node:assert/strict";
import { CatbusClient, type ConsumedMessage } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { nativeClient } from "./helpers/native.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { within } from "./helpers/deadline.ts";

const TOTAL = 300;

Deno.test("consumer crash - after SIGKILL every answered ack holds and every other message is delivered", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-consumer-crash-" });
  const first = await startCatbusd([], { data });
  const setup = await nativeClient(first);
  await setup.publish("jobs.work", 1);
  await Promise.all(Array.from({ length: TOTAL - 1 }, (_, i) => setup.publish("jobs.work", i + 2)));
  await setup.createConsumer({ name: "w", pattern: "jobs.>", from: "first", maxInFlight: 50 });
  await setup.disconnect();

  // Ack until the server is killed in the middle of the stream of acks.
  const worker = new CatbusClient({
    url: first.tcpUrl,
    token: first.adminKey,
    transport: tcpTransport(),
    autoReconnect: false,
  });
  await worker.connect();
  const deliveries = new AsyncQueue<ConsumedMessage>();
  // Settled by hand below: the handler never finishes, so nothing is acked automatically.
  await worker.consume("w", (m) => {
    deliveries.push(m);
    return new Promise(() => {});
  });
  const answered = new Set<number>();
  while (answered.size < TOTAL / 2) {
    const m = await deliveries.next();
    await m.ack(); // resolves only once the consumer state with this ack is on disk
    answered.add(m.payload as number);
  }
  // Acks sent right before the kill, answers not awaited: saved or not, either is correct.
  const unanswered = new Set<number>();
  while (deliveries.size > 0) {
    const m = await deliveries.next();
    unanswered.add(m.payload as number);
    m.ack().catch(() => {});
  }
  await first.crash(); // SIGKILL, with those acks on their way
  await worker.disconnect();

  const second = await startCatbusd([], { data });
  const again = await nativeClient(second);
  const afterRestart = new Set<number>();
  const sentinel = Promise.withResolvers<void>();
  await again.consume("w", (m) => {
    const n = m.payload as number;
    if (n === TOTAL + 1) return sentinel.resolve();
    assert.ok(!answered.has(n), `#${n} was acked (and the ack answered) before the crash`);
    afterRestart.add(n);
  });
  // Unacked messages are afterRestart before new ones: once this arrives, all of them came.
  await again.publish("jobs.work", TOTAL + 1);
  await within(sentinel.promise, 15_000, "the redeliveries and the sentinel");
  assert.ok(afterRestart.size > 0, "the crash left work to do");
  for (let n = 1; n <= TOTAL; n++) {
    assert.ok(
      answered.has(n) || afterRestart.has(n) || unanswered.has(n),
      `#${n} was neither acked nor delivered after the restart`,
    );
  }
  await again.disconnect();
  await second.stop();
  await Deno.remove(data, { recursive: true });
});
