import type postgres from "postgres";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { openPool, type Sql } from "../../connectors/postgres/connect.ts";
import type { ConsumerState } from "../consumer.ts";
import type { ConsumerLeases, ConsumerStore } from "../consumer-registry.ts";
import { CONSUMERS_CHANNEL } from "./schema.ts";

/** The advisory lock key of a consumer's lease (64 bits: a collision is out of reach). */
const LOCK = "hashtextextended('catbus consumer ' || $1, 0)";

/**
 * Durable consumers' states in `catbus_stream_consumers`, shared by the nodes, and the lease that
 * says which node runs each one: a session advisory lock (`pg_try_advisory_lock`) on a
 * connection of this store's own. PostgreSQL lets go of a dead node's locks when its session
 * ends, so the lease moves as soon as the holder's connection is gone. A state is saved only by
 * the lock holder (or while nobody holds it: a new consumer), so a node that lost its lease
 * cannot overwrite what the next holder saved. Creations and deletions are announced on a
 * channel the engine listens to.
 */
export class PostgresConsumerStore implements ConsumerStore, ConsumerLeases {
  readonly intervalMs: number;
  readonly #sql: Sql;
  /** The leases this session holds (forgotten when the session ends: so are its locks). */
  readonly #held = new Set<string>();
  #changed?: (name: string) => void;

  private constructor(url: string, intervalMs: number) {
    this.intervalMs = intervalMs;
    this.#sql = openPool(url, "catbus consumer leases", {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      onclose: () => this.#held.clear(),
    });
  }

  /** One session for every lease of this node (locks belong to a session, never to a pool). */
  static async open(url: string, intervalMs: number): Promise<PostgresConsumerStore> {
    const store = new PostgresConsumerStore(url, intervalMs);
    await store.#sql`select 1`;
    return store;
  }

  async list(): Promise<ConsumerState[]> {
    const rows = await this.#sql`select state from catbus_stream_consumers order by name`;
    return rows.map((r) => r.state as ConsumerState);
  }

  async load(name: string): Promise<ConsumerState | undefined> {
    const [row] = await this.#sql`select state from catbus_stream_consumers where name = ${name}`;
    return row?.state as ConsumerState | undefined;
  }

  async save(state: ConsumerState): Promise<void> {
    const name = state.config.name;
    const held = this.#held.has(name);
    if (!held && !await this.#lock(name)) {
      throw new CatbusError(
        ErrorCode.Unavailable,
        `consumer "${name}" is run by another node now (this node lost its lease); the ` +
          "delivery will come again from there",
      );
    }
    try {
      const [row] = await this.#sql`
        insert into catbus_stream_consumers (name, state) values (${name}, ${
        this.#sql.json(state as unknown as postgres.JSONValue)
      })
        on conflict (name) do update set state = excluded.state
        returning (xmax = 0) as inserted`;
      if (row.inserted) await this.#sql`select pg_notify(${CONSUMERS_CHANNEL}, ${name})`;
    } finally {
      if (!held) await this.#unlock(name);
    }
  }

  async remove(name: string): Promise<void> {
    await this.#sql`delete from catbus_stream_consumers where name = ${name}`;
    await this.release(name);
    await this.#sql`select pg_notify(${CONSUMERS_CHANNEL}, ${name})`;
  }

  async hold(name: string): Promise<"taken" | "kept" | "elsewhere"> {
    if (this.#held.has(name)) {
      // The session is still there (a closed one would have cleared #held).
      await this.#sql`select 1`;
      if (this.#held.has(name)) return "kept";
    }
    if (!await this.#lock(name)) return "elsewhere";
    this.#held.add(name);
    return "taken";
  }

  async release(name: string): Promise<void> {
    if (this.#held.delete(name)) await this.#unlock(name);
  }

  watch(changed: (name: string) => void): void {
    this.#changed = changed;
  }

  /** A creation or deletion a node announced (routed here by the engine). */
  announced(name: string): void {
    this.#changed?.(name);
  }

  async close(): Promise<void> {
    this.#held.clear();
    await this.#sql.end({ timeout: 1 });
  }

  async #lock(name: string): Promise<boolean> {
    const [row] = await this.#sql.unsafe(`select pg_try_advisory_lock(${LOCK}) as ok`, [name]);
    return row.ok;
  }

  async #unlock(name: string): Promise<void> {
    await this.#sql.unsafe(`select pg_advisory_unlock(${LOCK})`, [name]);
  }
}
