import { openPool, type Sql } from "../../connectors/postgres/connect.ts";
import { PgListener } from "../../connectors/postgres/listener.ts";
import { requireSchema, type Schema } from "../../connectors/postgres/migrations.ts";
import type { Logger } from "../../core/logger.ts";
import type { PulsarState } from "./store-backend.ts";
import { SharedStateBackend, type VersionedState } from "./store-shared.ts";

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

/**
 * The state in PostgreSQL, shared by every node on the database. A change runs in a transaction
 * holding the row's lock, on the newest state, so two nodes never overwrite each other; it rings
 * the doorbell (NOTIFY) and the other nodes reload (see SharedStateBackend).
 */
export class PostgresStateBackend extends SharedStateBackend {
  readonly #sql: Sql;
  readonly #listener: PgListener;

  private constructor(url: string, log: Logger) {
    super(log);
    this.#sql = openPool(url, "catbus pulsar", { max: 2 });
    this.#listener = new PgListener(url, "catbus pulsar-listen", {
      onNotification: (_channel, version) => this.heard(Number(version)),
      onLost: () => log("warn", "pulsar store doorbell connection lost; reconnecting"),
      onReconnect: () => this.heard(Infinity),
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
    backend.startPolling();
    return backend;
  }

  protected async read(): Promise<VersionedState> {
    const [row] = await this.#sql`select version, state from catbus_pulsar_state`;
    return { state: row.state as PulsarState, version: Number(row.version) };
  }

  protected async readVersion(): Promise<number> {
    const [row] = await this.#sql`select version from catbus_pulsar_state`;
    return Number(row.version);
  }

  protected commit(
    change: (fresh: PulsarState) => Promise<void>,
    snapshot: () => PulsarState,
  ): Promise<number> {
    return this.#sql.begin(async (tx) => {
      const [row] = await tx`select version, state from catbus_pulsar_state for update`;
      await change(row.state as PulsarState);
      const version = Number(row.version) + 1;
      await tx`update catbus_pulsar_state set version = ${version},
               state = ${tx.json(snapshot() as never)}`;
      await tx`select pg_notify(${CHANNEL}, ${String(version)})`;
      return version;
    });
  }

  protected async disconnect(): Promise<void> {
    await this.#listener.close();
    await this.#sql.end({ timeout: 1 });
  }
}
