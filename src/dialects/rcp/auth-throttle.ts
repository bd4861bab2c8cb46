import { SmError, SmErrorCode } from "../../sm/errors.ts";

const WINDOW_MS = 60_000;
/** Addresses remembered at most; beyond, the oldest windows are forgotten first. */
const MAX_ADDRESSES = 10_000;

/**
 * Failed AUTH attempts per client address, counted in one-minute windows: once an address
 * has `maxFailures` in the current window, AUTH is refused with RATE_LIMITED (retryable)
 * until the window ends, whatever the token.
 */
export class AuthThrottle {
  readonly maxFailures: number;
  readonly #windows = new Map<string, { start: number; failures: number }>();

  constructor(maxFailures: number) {
    this.maxFailures = maxFailures;
  }

  /** Throws RATE_LIMITED when `address` has used up its failures for now. */
  check(address: string, now = Date.now()): void {
    const w = this.#windows.get(address);
    if (!w || now - w.start >= WINDOW_MS || w.failures < this.maxFailures) return;
    throw limited(
      `too many failed AUTH attempts from this address; retry in ${
        Math.ceil((w.start + WINDOW_MS - now) / 1000)
      } s`,
    );
  }

  failed(address: string, now = Date.now()): void {
    let w = this.#windows.get(address);
    if (!w || now - w.start >= WINDOW_MS) {
      this.#windows.delete(address);
      if (this.#windows.size >= MAX_ADDRESSES) this.#prune(now);
      this.#windows.set(address, w = { start: now, failures: 0 });
    }
    w.failures++;
  }

  #prune(now: number) {
    for (const [address, w] of this.#windows) {
      if (now - w.start >= WINDOW_MS) this.#windows.delete(address);
    }
    // Windows are kept in start order: drop the oldest while still full.
    for (const address of this.#windows.keys()) {
      if (this.#windows.size < MAX_ADDRESSES) break;
      this.#windows.delete(address);
    }
  }
}

export const limited = (message: string) => new SmError(SmErrorCode.RateLimited, message);
