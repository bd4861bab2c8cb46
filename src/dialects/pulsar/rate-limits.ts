import { HttpError } from "./http.ts";

const MINUTE_MS = 60_000;
/** Keys (IPs or users) tracked at once; past it the least recently seen are forgotten. */
const MAX_TRACKED = 10_000;

/**
 * Per-key budgets of `perMinute` units (0 = no limit), refilled continuously: a full minute's
 * budget may be spent at once, then it comes back at perMinute/60 per second. Over budget is
 * 429 `{"detail": …}` with `Retry-After`, the shape the original's clients already handle.
 */
export class RateLimit {
  readonly #perMinute: number;
  readonly #what: string;
  readonly #refused: () => void;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  /** `what` names the unit in the refusal; `refused` is told of each one (for the metrics). */
  constructor(perMinute: number, what: string, refused: () => void = () => {}) {
    this.#perMinute = perMinute;
    this.#what = what;
    this.#refused = refused;
  }

  /** Spends `n` units of `key`'s budget, or throws 429 (spending nothing). */
  take(key: string, n = 1): void {
    if (!this.#perMinute) return;
    const now = Date.now();
    const held = this.#buckets.get(key);
    let tokens = this.#perMinute;
    if (held) {
      tokens = Math.min(
        this.#perMinute,
        held.tokens + (now - held.at) * this.#perMinute / MINUTE_MS,
      );
      this.#buckets.delete(key); // re-inserted below: the map stays in least-recent order
    }
    if (tokens < n) {
      this.#buckets.set(key, { tokens, at: now });
      this.#refused();
      const waitMs = (Math.min(n, this.#perMinute) - tokens) * MINUTE_MS / this.#perMinute;
      throw new HttpError(
        429,
        `Rate limit exceeded: at most ${this.#perMinute} ${this.#what} per minute; retry later`,
        { "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))) },
      );
    }
    this.#buckets.set(key, { tokens: tokens - n, at: now });
    if (this.#buckets.size > MAX_TRACKED) this.#buckets.delete(this.#buckets.keys().next().value!);
  }
}
