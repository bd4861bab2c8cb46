export interface BackoffOptions {
  /** First delay, ms. */
  initial: number;
  /** Largest delay, ms. */
  max: number;
  /** Spread as a fraction: 0.3 means ±30 %. */
  jitter: number;
  random?: () => number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter so a
 * crowd of clients dropped at once does not return at once.
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const base = Math.min(
    options.max,
    options.initial * 2 ** Math.min(attempt, 30),
  );
  const spread = base * options.jitter;
  const r = (options.random ?? Math.random)();
  return Math.max(
    0,
    Math.min(options.max, Math.round(base - spread + 2 * spread * r)),
  );
}
