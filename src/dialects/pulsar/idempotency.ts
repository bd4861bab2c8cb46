/** A publish's first answer, kept for its Idempotency-Key. */
export interface StoredAnswer {
  status: number;
  body: string;
}

/**
 * `Idempotency-Key` as the original's client uses it (one key per logical publish, reused by
 * its retries): a repeat within the window gets the first answer, never a second message. A
 * repeat while the first is still running waits for it. Keys are per user; at most `maxKeys`
 * are kept, the oldest dropped first. In memory: a restart forgets them.
 */
export class IdempotencyKeys {
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #answers = new Map<string, { until: number; answer: Promise<StoredAnswer> }>();

  constructor(windowMs: number, maxKeys: number) {
    this.#windowMs = windowMs;
    this.#maxKeys = maxKeys;
  }

  /** The first answer for `key`, running `run` only when there is none within the window. */
  answer(key: string, run: () => Promise<StoredAnswer>): Promise<StoredAnswer> {
    const now = Date.now();
    const held = this.#answers.get(key);
    if (held && held.until > now) return held.answer;
    this.#answers.delete(key);
    const answer = run();
    // A refused publish stored nothing: its retry may try again.
    answer.then(
      (a) => a.status >= 400 && this.#answers.delete(key),
      () => this.#answers.delete(key),
    );
    this.#answers.set(key, { until: now + this.#windowMs, answer });
    while (this.#answers.size > this.#maxKeys) {
      this.#answers.delete(this.#answers.keys().next().value!);
    }
    return answer;
  }
}
