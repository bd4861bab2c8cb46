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
   * Acks another node counted before this one waited for them (its consumer may ack before the
   * append's answer is back here): namespace+seq → how many, until when; bounded.
   */
  readonly #early = new Map<string, { count: number; until: number }>();

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
      const early = this.#early.get(key);
      if (!early) return;
      this.#early.delete(key);
      if (early.until < Date.now()) return;
      for (let i = 0; i < early.count; i++) this.acked(namespace, seq);
    });
  }

  /**
   * A consumer acked `namespace` #`seq`. `elsewhere`: one on another node; kept for a while
   * when nobody waits yet.
   */
  acked(namespace: string, seq: number, elsewhere = false): void {
    if (this.#waiting.size === 0 && !elsewhere) return;
    const key = `${namespace}\n${seq}`;
    const w = this.#waiting.get(key);
    if (!w && elsewhere) return this.#keepEarly(key);
    if (!w || ++w.count < w.needed) return;
    clearTimeout(w.timer);
    this.#waiting.delete(key);
    w.resolve();
  }

  #keepEarly(key: string): void {
    const now = Date.now();
    const early = this.#early.get(key);
    if (early) early.count++;
    else this.#early.set(key, { count: 1, until: now + EARLY_ACK_MS });
    for (const [oldest, { until }] of this.#early) {
      if (this.#early.size <= MAX_EARLY_ACKS && until > now) break;
      this.#early.delete(oldest);
    }
  }
}

/** How long, and how many, acks from other nodes are kept before anyone here waits for them. */
const EARLY_ACK_MS = 30_000;
const MAX_EARLY_ACKS = 10_000;
