import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { backoffMs, openPool, type Sql } from "./connect.ts";
import { quoteIdentifier } from "./identifiers.ts";

/** The window in which notifications were lost: the LISTEN connection was down in between. */
export interface NotificationGap {
  from: Date;
  to: Date;
}

export interface ListenerEvents {
  onNotification(channel: string, payload: string): void;
  /** The connection dropped: notifications are lost until `onReconnect`. */
  onLost?(error: Error): void;
  /** The connection is back and every channel is listened to again. */
  onReconnect?(gap: NotificationGap): void;
}

type State = "idle" | "up" | "down" | "closed";

/**
 * One dedicated LISTEN connection (never a pooled one: LISTEN belongs to a session, so a
 * transaction pooler would lose it) that reconnects by itself. When it drops, it retries with
 * back-off, runs LISTEN again for every channel in one round trip and reports the gap, since
 * PostgreSQL keeps no notifications for a listener that is away. LISTEN and UNLISTEN run one at
 * a time, in call order, so a quick unsubscribe/subscribe cannot end unlistened.
 */
export class PgListener {
  readonly #sql: Sql;
  readonly #events: ListenerEvents;
  readonly #channels = new Set<string>();
  #state: State = "idle";
  #lostAt = new Date();
  #ops: Promise<unknown> = Promise.resolve();

  constructor(url: string, applicationName: string, events: ListenerEvents) {
    this.#events = events;
    this.#sql = openPool(url, applicationName, {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      fetch_types: false,
      onnotify: (channel, payload) => this.#events.onNotification(channel, payload),
      onclose: () => this.#closed(),
    });
  }

  get connected(): boolean {
    return this.#state === "up";
  }

  /** The channels listened to (or to be listened to again after a reconnect). */
  get channels(): ReadonlySet<string> {
    return this.#channels;
  }

  /** Connects once; rejects when PostgreSQL cannot be reached (the caller decides to retry). */
  async start(): Promise<void> {
    await this.#sql`select 1`;
    if (this.#state === "idle") this.#state = "up";
  }

  /** Retries `start` with back-off until it succeeds or the listener is closed. */
  async startWithRetry(onFailure: (error: Error, attempt: number) => void): Promise<void> {
    for (let attempt = 1; this.#state !== "closed"; attempt++) {
      try {
        return await this.start();
      } catch (e) {
        onFailure(e as Error, attempt);
        await sleep(backoffMs(attempt));
      }
    }
  }

  /** LISTEN on `channel` (its exact name, quoted); resolves once PostgreSQL has run it. */
  listen(channel: string): Promise<void> {
    return this.#serial(async () => {
      if (this.#channels.has(channel)) return;
      this.#requireUp();
      await this.#sql.unsafe(`LISTEN ${quoteIdentifier(channel)}`);
      this.#channels.add(channel);
    });
  }

  unlisten(channel: string): Promise<void> {
    return this.#serial(async () => {
      if (!this.#channels.delete(channel)) return;
      // While down there is nothing to undo: the reconnect listens only to what is left.
      if (this.#state === "up") await this.#sql.unsafe(`UNLISTEN ${quoteIdentifier(channel)}`);
    });
  }

  /** Runs `query` on this connection, e.g. `select pg_listening_channels()` for a check. */
  query<T>(run: (sql: Sql) => Promise<T>): Promise<T> {
    return this.#serial(() => run(this.#sql));
  }

  async close(): Promise<void> {
    this.#state = "closed";
    await this.#sql.end({ timeout: 1 });
  }

  #requireUp() {
    if (this.#state !== "up") {
      throw new CatbusError(
        ErrorCode.Unavailable,
        "PostgreSQL is unreachable; the bridge is reconnecting, retry shortly",
      );
    }
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#ops.then(op, op);
    this.#ops = run.catch(() => {});
    return run;
  }

  #closed() {
    if (this.#state !== "up") return;
    this.#state = "down";
    this.#lostAt = new Date();
    this.#events.onLost?.(new Error("the LISTEN connection to PostgreSQL closed"));
    this.#recover();
  }

  async #recover() {
    for (let attempt = 1; this.#state === "down"; attempt++) {
      try {
        await this.#serial(async () => {
          const listens = [...this.#channels].map((c) => `LISTEN ${quoteIdentifier(c)}`);
          await this.#sql.unsafe(listens.length ? listens.join("; ") : "select 1");
        });
        if (this.#state !== "down") return;
        this.#state = "up";
        this.#events.onReconnect?.({ from: this.#lostAt, to: new Date() });
        return;
      } catch {
        await sleep(backoffMs(attempt));
      }
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
