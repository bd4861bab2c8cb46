import assert from "node:assert/strict";
import { CatbusClient } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { nativeClient } from "./helpers/native.ts";

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
  const answered = new Set<number>();
  // Acks sent whose answer never came: saved or not, either outcome keeps the promise.
  const unanswered = new Set<number>();
  const killed = Promise.withResolvers<void>();
  await worker.consume("w", async (m) => {
    const n = m.payload as number;
    try {
      unanswered.add(n);
      await m.ack(); // resolves only once the consumer state with this ack is on disk
      unanswered.delete(n);
      answered.add(n);
      if (answered.size === TOTAL / 2) first.crash().then(() => killed.resolve());
    } catch { /* the server died before answering */ }
  });
  await killed.promise;
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
  await sentinel.promise;
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
