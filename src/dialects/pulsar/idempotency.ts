/** A publish's first answer, kept for its Idempotency-Key. */
export interface StoredAnswer {
  status: number;
  body: string;
}

/** A stored answer as its key's window keeps it. */
export interface KeptAnswer extends StoredAnswer {
  key: string;
  /** ms since the epoch when the window ends. */
  until: number;
}

/** Where answers are kept across restarts (the data directory's file). */
export interface AnswerLog {
  append(kept: KeptAnswer): Promise<void>;
  compactFrom(live: () => Iterable<KeptAnswer>): void;
}

/**
 * `Idempotency-Key` as the original's client uses it (one key per logical publish, reused by
 * its retries): a repeat within the window gets the first answer, never a second message. A
 * repeat while the first is still running waits for it. Keys are per user; at most `maxKeys`
 * are kept, the oldest dropped first. A successful answer is written to `log` before it is
 * given, so a retry after a restart within the window still gets it.
 */
export class IdempotencyKeys {
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #log?: AnswerLog;
  readonly #answers = new Map<string, { until: number; answer: Promise<StoredAnswer> }>();
  /** The settled answers of `#answers`, for the log's compaction. */
  readonly #settled = new Map<string, KeptAnswer>();

  constructor(windowMs: number, maxKeys: number, log?: AnswerLog, kept: KeptAnswer[] = []) {
    this.#windowMs = windowMs;
    this.#maxKeys = maxKeys;
    this.#log = log;
    for (const k of kept) {
      this.#answers.set(k.key, { until: k.until, answer: Promise.resolve(k) });
      this.#settled.set(k.key, k);
    }
    log?.compactFrom(() => this.#settled.values());
  }

  /** The first answer for `key`, running `run` only when there is none within the window. */
  answer(key: string, run: () => Promise<StoredAnswer>): Promise<StoredAnswer> {
    const now = Date.now();
    const held = this.#answers.get(key);
    if (held && held.until > now) return held.answer;
    this.#forget(key);
    const until = now + this.#windowMs;
    const answer = run().then(async (a) => {
      // A refused publish stored nothing: its retry may try again.
      if (a.status >= 400) {
        this.#forget(key);
        return a;
      }
      const kept = { key, until, status: a.status, body: a.body };
      if (this.#answers.has(key)) this.#settled.set(key, kept);
      // Written before it is given; when the disk refuses, the answer still stands here (and
      // /ready reports the storage), it just would not outlive a restart.
      await this.#log?.append(kept).catch(() => {});
      return a;
    }, (e) => {
      this.#forget(key);
      throw e;
    });
    this.#answers.set(key, { until, answer });
    while (this.#answers.size > this.#maxKeys) this.#forget(this.#answers.keys().next().value!);
    return answer;
  }

  #forget(key: string) {
    this.#answers.delete(key);
    this.#settled.delete(key);
  }
}
