import { openPool, type Sql, type TransactionSql } from "../../connectors/postgres/connect.ts";
import { PgListener } from "../../connectors/postgres/listener.ts";
import { requireSchema } from "../../connectors/postgres/migrations.ts";
import type { Logger } from "../../core/logger.ts";
import { PulsarRecords } from "./records.ts";
import type { Guard, RecordChange, RecordKind } from "./record-types.ts";
import { SharedStateBackend } from "./store-shared.ts";
import { keyOf, PULSAR_SCHEMA, TABLES } from "./store-postgres-tables.ts";

export { PULSAR_SCHEMA } from "./store-postgres-tables.ts";

/** The doorbell: its payload names the record that changed (see SharedStateBackend). */
const CHANNEL = "catbus_pulsar";
const FOREIGN_KEY_VIOLATION = "23503";
/** Loaded in this order: a grant needs its topic in memory. */
const KINDS: RecordKind[] = ["user", "topic", "grant", "refresh", "denied"];

/**
 * The records in PostgreSQL, a table per kind, shared by every node on the database. A change is
 * one statement per record (several in one transaction), whose guard is the statement itself
 * (`ON CONFLICT DO NOTHING` against the primary key and the unique username, `UPDATE … WHERE`),
 * so two nodes never overwrite each other's records and a username is taken once; each row
 * written rings the doorbell (NOTIFY) in the same statement, and the other nodes reload that row.
 */
export class PostgresStateBackend extends SharedStateBackend {
  readonly #sql: Sql;
  readonly #listener: PgListener;

  private constructor(url: string, log: Logger) {
    super(log);
    this.#sql = openPool(url, "catbus pulsar", { max: 2 });
    this.#listener = new PgListener(url, "catbus pulsar-listen", {
      onNotification: (_channel, notice) => this.heard(notice),
      onLost: () => log("warn", "pulsar store doorbell connection lost; reconnecting"),
      onReconnect: () => this.reconnected(),
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
    return backend;
  }

  /** All tables as of one moment (a grant never without its topic). */
  protected readAll(): Promise<PulsarRecords> {
    return this.#sql.begin("isolation level repeatable read read only", async (tx) => {
      const records = new PulsarRecords();
      for (const kind of KINDS) {
        const table = TABLES[kind];
        for (const row of await tx`select * from ${tx(table.name)}`) {
          records.apply({ kind, key: keyOf(kind, row), value: table.value(row) } as RecordChange);
        }
      }
      return records;
    });
  }

  protected async readRecord(kind: RecordKind, key: string): Promise<RecordChange> {
    const table = TABLES[kind];
    const sql = this.#sql;
    const [row] = await sql`select * from ${sql(table.name)} where ${table.where(sql, key)}`;
    return { kind, key, value: row ? table.value(row) : undefined } as RecordChange;
  }

  protected async store(changes: RecordChange[], guard: Guard | undefined): Promise<boolean> {
    try {
      if (changes.length === 1) {
        return await this.#statement(this.#sql, changes[0], guard) || !guard;
      }
      return await this.#sql.begin(async (tx) => {
        if (!await this.#statement(tx, changes[0], guard) && guard) return false;
        for (const change of changes.slice(1)) await this.#statement(tx, change, undefined);
        return true;
      });
    } catch (e) {
      // A grant whose topic was deleted meanwhile: the topic's guard, as the database saw it.
      if ((e as { code?: string }).code === FOREIGN_KEY_VIOLATION) return false;
      throw e;
    }
  }

  /**
   * Writes or removes one record, ringing the doorbell when a row changed; true if one did (an
   * unguarded removal of a record already gone changes none, and is no failure).
   */
  async #statement(
    sql: Sql | TransactionSql,
    change: RecordChange,
    guard: Guard | undefined,
  ): Promise<boolean> {
    const table = TABLES[change.kind];
    const name = sql(table.name);
    const where = table.where(sql, change.key);
    let write;
    if (change.value === undefined) write = sql`delete from ${name} where ${where}`;
    else {
      const row = table.row(change) as Record<string, never>;
      const set = sql(row, Object.keys(row).filter((c) => !table.keyColumns.includes(c)));
      if (guard === "absent") write = sql`insert into ${name} ${sql(row)} on conflict do nothing`;
      else if (guard === "present") write = sql`update ${name} set ${set} where ${where}`;
      else if (guard === "unrevoked") {
        write = sql`update ${name} set ${set} where ${where} and not revoked`;
      } else {
        write = sql`insert into ${name} ${sql(row)}
                    on conflict (${sql(table.keyColumns)}) do update set ${set}`;
      }
    }
    const rows = await sql`with w as (${write} returning 1)
                           select pg_notify(${CHANNEL}, ${this.notice(change)}) from w`;
    return rows.length > 0;
  }

  protected async disconnect(): Promise<void> {
    await this.#listener.close();
    await this.#sql.end({ timeout: 1 });
  }
}
