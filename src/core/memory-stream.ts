import { randomId } from "./ids.ts";
import type { BusMessage } from "./message.ts";
import type { AppendRequest, EngineStream, StreamListener } from "./stream-engine.ts";

/**
 * The stream of a memory-only namespace (`$sys`, `_inbox`, or any without an engine): it numbers
 * appends and calls them durable at once, in the same call; it keeps nothing — the hub's
 * in-memory history is all there is.
 */
export class MemoryStream implements EngineStream {
  readonly epoch = randomId(8);
  readonly firstSeq = 0;
  #lastSeq = 0;
  readonly #listener: StreamListener;

  constructor(listener: StreamListener) {
    this.#listener = listener;
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  append(batch: AppendRequest[]): void {
    const messages = batch.map(({ message }) => {
      message.epoch = this.epoch;
      message.seq = ++this.#lastSeq;
      return message;
    });
    this.#listener.durable(messages);
  }

  async *read(): AsyncGenerator<BusMessage[]> {}

  seekTime(): Promise<number> {
    return Promise.resolve(this.#lastSeq + 1);
  }

  tail(): Promise<BusMessage[]> {
    return Promise.resolve([]);
  }

  recentKeys(): Promise<Map<string, BusMessage>> {
    return Promise.resolve(new Map());
  }

  /** Nothing is stored here: the hub's in-memory history skips the purged messages itself. */
  purgeChannel(): Promise<void> {
    return Promise.resolve();
  }
}
