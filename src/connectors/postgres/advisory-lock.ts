import { openPool, type Sql } from "./connect.ts";

export interface AdvisoryLockEvents {
  /** This node holds the lock now. */
  acquired(): void;
  /** This node no longer holds it (its session ended: PostgreSQL released it). */
  lost(): void;
}

/**
 * A session-level `pg_try_advisory_lock` held by at most one process among all that ask for the
 * same `name`, on a dedicated connection of its own: the lock lives as long as that session, so
 * a holder that dies (even `kill -9`) releases it as soon as PostgreSQL sees the socket close,
 * and a waiting process takes it at its next try. Every `intervalMs` the waiting side tries
 * again and the holding side checks its session is still there.
 */
export class AdvisoryLock {
  readonly #sql: Sql;
  readonly #name: string;
  readonly #intervalMs: number;
  readonly #events: AdvisoryLockEvents;
  #held = false;
  #closed = false;
  #timer?: ReturnType<typeof setTimeout>;

  constructor(
    url: string,
    applicationName: string,
    options: { name: string; intervalMs: number } & AdvisoryLockEvents,
  ) {
    this.#name = options.name;
    this.#intervalMs = options.intervalMs;
    this.#events = options;
    this.#sql = openPool(url, applicationName, {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      fetch_types: false,
      onclose: () => this.#release(),
    });
  }

  get held(): boolean {
    return this.#held;
  }

  /** Tries at once, then every interval, until closed. */
  start(): void {
    this.#tick();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#release();
    // Ending the session releases the lock for the next holder.
    await this.#sql.end({ timeout: 1 });
  }

  async #tick() {
    try {
      if (this.#held) await this.#sql`select 1`;
      else {
        const [row] = await this.#sql`select pg_try_advisory_lock(hashtext(${this.#name})) as ok`;
        if (row.ok === true && !this.#closed && !this.#held) {
          this.#held = true;
          this.#events.acquired();
        }
      }
    } catch {
      // Unreachable: `onclose` has released it; the next try reconnects.
    }
    if (!this.#closed) this.#timer = setTimeout(() => this.#tick(), this.#intervalMs);
  }

  #release() {
    if (!this.#held) return;
    this.#held = false;
    this.#events.lost();
  }
}
