const WINDOW_MS = 60_000;
/** Usernames tracked at once; past it the oldest are forgotten. */
const MAX_TRACKED = 10_000;

/**
 * Failed logins per username in the current minute: past `perMinute` (0 = no limit) the
 * username answers 429 until the minute is over, so guessing one user's password is slow
 * (each guess also costs an argon2id hash).
 */
export class LoginFailures {
  readonly #perMinute: number;
  readonly #byName = new Map<string, { since: number; count: number }>();

  constructor(perMinute: number) {
    this.#perMinute = perMinute;
  }

  blocked(username: string): boolean {
    const entry = this.#byName.get(username);
    if (!this.#perMinute || !entry) return false;
    if (Date.now() - entry.since > WINDOW_MS) {
      this.#byName.delete(username);
      return false;
    }
    return entry.count >= this.#perMinute;
  }

  failed(username: string): void {
    if (!this.#perMinute) return;
    const now = Date.now();
    const entry = this.#byName.get(username);
    if (entry && now - entry.since <= WINDOW_MS) entry.count++;
    else {
      this.#byName.delete(username);
      this.#byName.set(username, { since: now, count: 1 });
      if (this.#byName.size > MAX_TRACKED) this.#byName.delete(this.#byName.keys().next().value!);
    }
  }
}
