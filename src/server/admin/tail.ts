import type { Broker, Subscriber } from "../../core/broker.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { parsePattern } from "../../../client/shared/subject.ts";
import { messageView } from "./messages.ts";

/** Tails open at once over all console sessions. */
export const MAX_TAILS = 16;
/** Bytes a tail holds for a reader that is behind; past it messages are dropped and counted. */
const TAIL_BUFFER_BYTES = 1024 * 1024;

const encoder = new TextEncoder();
const event = (name: string, data: unknown) =>
  encoder.encode(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);

/**
 * Live tails (`GET /admin/api/tail?pattern=`): an event stream of the new messages matching a
 * pattern. A tail is a watcher, not a subscriber: it takes nothing from durable consumers and
 * answers no request. A reader that falls behind loses messages, told in a `dropped` event.
 */
export class Tails {
  readonly #broker: Broker;
  readonly #open = new Set<() => void>();

  constructor(broker: Broker) {
    this.#broker = broker;
  }

  open(pattern: string | null): Response {
    if (!pattern) throw new CatbusError(ErrorCode.BadRequest, "give ?pattern= (e.g. orders.>)");
    parsePattern(pattern);
    if (this.#open.size >= MAX_TAILS) {
      throw new CatbusError(
        ErrorCode.LimitExceeded,
        `at most ${MAX_TAILS} tails at once; close another console tab's tail`,
      );
    }
    const broker = this.#broker;
    const open = this.#open;
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let dropped = 0;
        const watcher: Subscriber = {
          deliver(m) {
            if ((controller.desiredSize ?? 0) <= 0) {
              dropped++;
              return;
            }
            if (dropped) {
              controller.enqueue(event("dropped", { count: dropped }));
              dropped = 0;
            }
            controller.enqueue(event("message", messageView(m)));
          },
        };
        stop = () => {
          if (!open.delete(stop)) return;
          broker.unwatch(pattern, watcher);
          try {
            controller.close();
          } catch { /* the reader went away first */ }
        };
        open.add(stop);
        broker.watch(pattern, watcher);
        controller.enqueue(encoder.encode(": tailing\n\n"));
      },
      cancel: () => stop(),
    }, { highWaterMark: TAIL_BUFFER_BYTES, size: (chunk) => chunk.length });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
    });
  }

  closeAll(): void {
    for (const stop of [...this.#open]) stop();
  }
}
