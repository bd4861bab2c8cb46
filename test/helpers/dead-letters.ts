import type { CatbusClient } from "../../client/mod.ts";
import { AsyncQueue } from "./queue.ts";

/**
 * Makes `count` dead letters: a consumer `name` on `pattern` (from the first message) that
 * never acks, with a short ack wait and `maxDeliver` attempts; resolves once the server stored
 * them. The queue goes on receiving later dead letters.
 */
export async function makeDeadLetters(
  c: CatbusClient,
  options: { name: string; pattern: string; count: number; maxDeliver?: number },
): Promise<AsyncQueue<unknown>> {
  const letters = new AsyncQueue<unknown>();
  await c.subscribe("$sys.dlq.>", (_ch, payload) => letters.push(payload));
  await c.createConsumer({
    name: options.name,
    pattern: options.pattern,
    from: "first",
    ackWait: 50,
    maxDeliver: options.maxDeliver ?? 1,
  });
  await c.consume(options.name, () => new Promise(() => {}));
  for (let i = 0; i < options.count; i++) await letters.next(`dead letter ${i + 1}`);
  return letters;
}
