import { CatbusError, ErrorCode } from "../shared/errors.ts";
import type { PublishedMeta } from "../shared/messages.ts";

/** A publish made while disconnected, sent once connected. */
interface QueuedPublish<O> {
  channel: string;
  payload: unknown;
  options: O;
  resolve(result: PublishedMeta): void;
  reject(error: CatbusError): void;
}

/** Publishes waiting for the connection, at most `max`, sent in order on connect. */
export class OfflineQueue<O> {
  readonly #max: number;
  #waiting: QueuedPublish<O>[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  /** Resolves once the publish was sent and acknowledged; rejects `offline_queue_full` at once. */
  add(channel: string, payload: unknown, options: O): Promise<PublishedMeta> {
    if (this.#waiting.length >= this.#max) {
      return Promise.reject(
        new CatbusError(
          ErrorCode.OfflineQueueFull,
          `${this.#waiting.length} publishes are already waiting for the connection; retry later`,
        ),
      );
    }
    return new Promise((resolve, reject) =>
      this.#waiting.push({ channel, payload, options, resolve, reject })
    );
  }

  /** Connected: sends every waiting publish, in order, with `publish`. */
  flush(publish: (channel: string, payload: unknown, options: O) => Promise<PublishedMeta>) {
    for (const q of this.#waiting.splice(0)) {
      publish(q.channel, q.payload, q.options).then(q.resolve, q.reject);
    }
  }

  /** The client stopped: every waiting publish fails with `error`. */
  rejectAll(error: CatbusError): void {
    for (const q of this.#waiting.splice(0)) q.reject(error);
  }
}
