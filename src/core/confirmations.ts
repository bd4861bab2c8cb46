import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";

interface Waiting {
  needed: number;
  count: number;
  resolve(): void;
  reject(error: CatbusError): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Publish confirmations: a publisher may ask to be answered only after `needed` consumer acks
 * of its message. Keyed by namespace and sequence; cheap when nobody waits (one size check).
 */
export class Confirmations {
  readonly #waiting = new Map<string, Waiting>();

  /**
   * Starts waiting for acks of `namespace` #`seq` (before the message can be delivered, so no
   * ack is missed), for what is left of the publisher's `timeoutMs` after storing: `leftMs`.
   */
  wait(
    namespace: string,
    seq: number,
    needed: number,
    timeoutMs: number,
    channel: string,
    leftMs = timeoutMs,
  ): Promise<void> {
    const key = `${namespace}\n${seq}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const w = this.#waiting.get(key);
        this.#waiting.delete(key);
        reject(
          new CatbusError(
            ErrorCode.Timeout,
            `message #${seq} on "${channel}" is stored, but only ${w?.count ?? 0} of ${needed} ` +
              `consumer acks arrived within ${timeoutMs} ms; raise confirmTimeout or check the consumers`,
          ),
        );
      }, leftMs);
      this.#waiting.set(key, { needed, count: 0, resolve, reject, timer });
    });
  }

  /** A consumer acked `namespace` #`seq`. */
  acked(namespace: string, seq: number): void {
    if (this.#waiting.size === 0) return;
    const key = `${namespace}\n${seq}`;
    const w = this.#waiting.get(key);
    if (!w || ++w.count < w.needed) return;
    clearTimeout(w.timer);
    this.#waiting.delete(key);
    w.resolve();
  }
}
