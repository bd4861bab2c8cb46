/**
 * A token bucket: `rate` operations per second on average, bursts up to `rate` at once.
 * Runtime-neutral: the caller passes the time.
 */
export class RateLimiter {
  readonly #rate: number;
  #tokens: number;
  #last: number;

  constructor(rate: number, now: number) {
    this.#rate = rate;
    this.#tokens = rate;
    this.#last = now;
  }

  /** Takes one token; false when the bucket is empty (the operation should be refused). */
  take(now: number): boolean {
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
