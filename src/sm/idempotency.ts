/**
 * Results of writes made with an idempotency key, so a retry gets the first result back
 * (with `applied:false`) instead of applying twice. Scoped per operation and instance; kept
 * for a window (default 24 h) measured from the write's log time, so the table is rebuilt
 * exactly on recovery and bounded by the write rate times the window.
 */
export interface IdempotentResult {
  /** Digest of the first request's parameters. */
  digest: string;
  result: Record<string, unknown>;
  /** Log time of the write; the entry expires `windowMs` later. */
  time: number;
  /** Offset of the write: a retry waits until it is durable before answering. */
  walOffset: number;
}

export const idempotencyScope = (op: string, instanceId: string, key: string) =>
  `${op}\u0000${instanceId}\u0000${key}`;

export class IdempotencyTable {
  readonly windowMs: number;
  /** Insertion order is time order (log order), so expiry pops from the front. */
  readonly #entries = new Map<string, IdempotentResult>();

  constructor(windowMs: number) {
    this.windowMs = windowMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(scope: string, now: number): IdempotentResult | undefined {
    const found = this.#entries.get(scope);
    return found && found.time + this.windowMs > now ? found : undefined;
  }

  /** The entry whether or not it expired (to restore it when a batch rolls back). */
  peek(scope: string): IdempotentResult | undefined {
    return this.#entries.get(scope);
  }

  set(scope: string, entry: IdempotentResult): void {
    this.#entries.delete(scope);
    this.#entries.set(scope, entry);
  }

  clear(): void {
    this.#entries.clear();
  }

  delete(scope: string): void {
    this.#entries.delete(scope);
  }

  /** Forgets entries older than the window. */
  expire(now: number): void {
    for (const [scope, entry] of this.#entries) {
      if (entry.time + this.windowMs > now) break;
      this.#entries.delete(scope);
    }
  }

  entries(): [string, IdempotentResult][] {
    return [...this.#entries];
  }
}
