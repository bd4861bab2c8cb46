import { openPool, type Sql } from "../../connectors/postgres/connect.ts";
import { PgListener } from "../../connectors/postgres/listener.ts";
import { requireSchema, type Schema } from "../../connectors/postgres/migrations.ts";
import type { Logger } from "../../core/logger.ts";
import type { PulsarState, PulsarStateBackend } from "./store-backend.ts";

/**
 * The Pulsar door's tables, as numbered migrations applied by `catbus init`. The state is one
 * row (a JSON document, as in the data directory) with a version bumped by every change.
 */
export const PULSAR_SCHEMA: Schema = {
  what: "pulsar",
  versionTable: "catbus_pulsar_schema",
  migrations: [
    `CREATE TABLE catbus_pulsar_state (
       id boolean PRIMARY KEY DEFAULT true CHECK (id),
       version bigint NOT NULL,
       state jsonb NOT NULL
     );
     INSERT INTO catbus_pulsar_state (version, state)
       VALUES (0, '{"version":1,"users":[],"topics":[],"refresh":[],"denied":{}}');`,
  ],
};

/** The doorbell: its payload is the state's new version. */
const CHANNEL = "catbus_pulsar";
/** The safety net for a lost notification: the version is read this often. */
const POLL_MS = 1000;

/**
 * The state in PostgreSQL, shared by every node on the database. A change runs in a transaction
 * holding the row's lock, on the newest state, so two nodes never overwrite each other; it rings
 * the doorbell (NOTIFY) and the other nodes reload. Changes of this node are run one at a time.
 */
export class PostgresStateBackend implements PulsarStateBackend {
  readonly #sql: Sql;
  readonly #listener: PgListener;
  readonly #log: Logger;
  #version = -1;
  #queue: Promise<unknown> = Promise.resolve();
  #listeners = new Set<(state: PulsarState) => void>();
  #poll?: ReturnType<typeof setInterval>;

  private constructor(url: string, log: Logger) {
    this.#log = log;
    this.#sql = openPool(url, "catbus pulsar", { max: 2 });
    this.#listener = new PgListener(url, "catbus pulsar-listen", {
      onNotification: (_channel, version) => this.#heard(Number(version)),
      onLost: () => log("warn", "pulsar store doorbell connection lost; reconnecting"),
      onReconnect: () => this.#heard(Infinity),
    });
  }

  /** Refuses (naming `catbus init`) when the tables are missing or of another version. */
  static async open(url: string, log: Logger): Promise<PostgresStateBackend> {
    const backend = new PostgresStateBackend(url, log);
    try {
      await requireSchema(backend.#sql, PULSAR_SCHEMA);
      await backend.#listener.start();
      await backend.#listener.listen(CHANNEL);
    } catch (e) {
      await backend.close();
      throw e;
    }
    backend.#poll = setInterval(() => backend.#checkVersion(), POLL_MS);
    return backend;
  }

  load(): Promise<PulsarState> {
    return this.#serial(async () => {
      const [row] = await this.#sql`select version, state from catbus_pulsar_state`;
      this.#version = Number(row.version);
      return row.state as PulsarState;
    });
  }

  update(
    change: (fresh: PulsarState | undefined) => Promise<void>,
    snapshot: () => PulsarState,
  ): Promise<void> {
    return this.#serial(() =>
      this.#sql.begin(async (tx) => {
        const [row] = await tx`select version, state from catbus_pulsar_state for update`;
        await change(row.state as PulsarState);
        const version = Number(row.version) + 1;
        await tx`update catbus_pulsar_state set version = ${version},
                 state = ${tx.json(snapshot() as never)}`;
        await tx`select pg_notify(${CHANNEL}, ${String(version)})`;
        this.#version = version;
      })
    );
  }

  onRemoteChange(listener: (state: PulsarState) => void): void {
    this.#listeners.add(listener);
  }

  /** A version newer than this node's (or a reconnect: Infinity) means reload. */
  #heard(version: number) {
    if (version <= this.#version) return;
    this.#serial(async () => {
      const [row] = await this.#sql`select version, state from catbus_pulsar_state`;
      if (Number(row.version) === this.#version) return;
      this.#version = Number(row.version);
      for (const l of this.#listeners) l(row.state as PulsarState);
    }).catch((e) => this.#log("warn", "pulsar store reload failed", { error: String(e) }));
  }

  async #checkVersion() {
    try {
      const [row] = await this.#sql`select version from catbus_pulsar_state`;
      this.#heard(Number(row.version));
    } catch (e) {
      this.#log("warn", "pulsar store unreachable", { error: String(e) });
    }
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    clearInterval(this.#poll);
    await this.#queue;
    await this.#listener.close();
    await this.#sql.end({ timeout: 1 });
  }
}
