import { Buffer } from "node:buffer";
import type { Sql } from "../../connectors/postgres/connect.ts";
import type { AppendAnswer, Entry } from "../shared-stream.ts";

/** A namespace's row (see schema.ts catbus_stream_head), with its oldest retained sequence. */
export interface Head {
  epoch: string;
  /** The last sequence before the epoch began. */
  base: number;
  top: number;
  /** Oldest retained sequence (0 when empty). */
  firstSeq: number;
}

/** What this node saw of a namespace: a lower top in the same epoch means the engine lost data. */
type Known = { epoch: string; seq: number };

const ms = (column: string) => `floor(extract('epoch' from ${column}) * 1000)::float8`;
/** The type oid of bytea: an array of Buffers is sent as bytea[] only when told. */
const BYTEA = 17;
const bytes = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** The oldest retained sequence of namespace $1 (see catbus_stream_first_kept), or null. */
const FIRST = `coalesce(
  (select seq from catbus_stream_first_kept where namespace = $1),
  (select min(seq) from catbus_stream_messages where namespace = $1))`;

/** The engine's statements: every read and write of the streams' tables goes through here. */
export class StreamQueries {
  readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** The namespace's head, made (or given a new epoch, when `known` saw more) if needed. */
  async head(namespace: string, known?: Known): Promise<Head> {
    const [row] = await this.sql.unsafe(
      `select h.epoch, h.base::float8 as base, h.top::float8 as top, ${FIRST}::float8 as first
       from catbus_stream_head($1, $2, $3::bigint) h`,
      [namespace, known?.epoch ?? null, known?.seq ?? 0],
    );
    return { epoch: row.epoch, base: row.base, top: row.top, firstSeq: row.first ?? 0 };
  }

  /** Epoch and top of each of these namespaces as they are (no lock, nothing made). */
  async peek(namespaces: string[]): Promise<Map<string, { epoch: string; top: number }>> {
    const rows = await this.sql.unsafe(
      "select name, epoch, top::float8 as top from catbus_stream_namespaces where name = any($1)",
      [namespaces],
    );
    return new Map(rows.map((r) => [r.name, { epoch: r.epoch, top: r.top }]));
  }

  async publish(
    namespace: string,
    records: Uint8Array[],
    dedupeWindowMs: number,
    known: Known,
  ): Promise<AppendAnswer> {
    const rows = await this.sql.unsafe(
      `select epoch, base::float8 as base, seq::float8 as seq, duplicate, time_ms::float8 as time
       from catbus_publish($1, $2::bytea[], $3::float8 * interval '1 millisecond', $4, $5::bigint)`,
      [
        namespace,
        this.sql.array(records.map(bytes), BYTEA),
        dedupeWindowMs,
        known.epoch,
        known.seq,
      ],
    );
    return {
      epoch: rows[0]?.epoch ?? known.epoch,
      base: rows[0]?.base ?? 0,
      time: rows[0]?.time ?? 0,
      results: rows.map((r) => r.duplicate ? -r.seq : r.seq),
    };
  }

  /** Messages with from ≤ seq ≤ to (Infinity: the newest), oldest first, at most `count`. */
  async range(namespace: string, from: number, to: number, count: number): Promise<Entry[]> {
    return entries(
      await this.sql.unsafe(
        `select seq::float8 as seq, ${ms("time")} as time, data from catbus_stream_messages
         where namespace = $1 and seq >= $2 and seq <= $3 order by seq limit $4`,
        [namespace, from, Number.isFinite(to) ? to : Number.MAX_SAFE_INTEGER, count],
      ),
    );
  }

  /** The newest messages with seq ≤ `to`, newest first, at most `count`. */
  async newest(namespace: string, to: number, count: number): Promise<Entry[]> {
    return entries(
      await this.sql.unsafe(
        `select seq::float8 as seq, ${ms("time")} as time, data from catbus_stream_messages
         where namespace = $1 and seq <= $2 order by seq desc limit $3`,
        [namespace, to, count],
      ),
    );
  }

  /** The first sequence stored at or after `time` (ms), or 0 when none is. */
  async seekTime(namespace: string, time: number): Promise<number> {
    const [row] = await this.sql.unsafe(
      `select min(seq)::float8 as seq from catbus_stream_messages
       where namespace = $1 and time >= to_timestamp($2::float8 / 1000)`,
      [namespace, time],
    );
    return row?.seq ?? 0;
  }

  /** Deletes messages before `seq` (exactly); returns the oldest retained sequence, `seq`. */
  async trimBefore(namespace: string, seq: number): Promise<number> {
    await this.sql.begin(async (tx) => {
      await tx.unsafe("delete from catbus_stream_messages where namespace = $1 and seq < $2", [
        namespace,
        seq,
      ]);
      await tx.unsafe(
        `insert into catbus_stream_first_kept values ($1, $2)
         on conflict (namespace) do update set seq = excluded.seq`,
        [namespace, seq],
      );
    });
    return seq;
  }

  /** After partitions were dropped: the oldest row left is the oldest retained. */
  async resetFirst(namespace: string): Promise<number> {
    await this.sql.unsafe("delete from catbus_stream_first_kept where namespace = $1", [namespace]);
    const [row] = await this.sql.unsafe(`select ${FIRST}::float8 as seq`, [namespace]);
    return row?.seq ?? 0;
  }

  /**
   * Deletes `channel`'s rows through `throughSeq` (from where its last purge ended), keeps the
   * oldest retained sequence where it was, and rings the doorbell with `notice` at commit.
   */
  async purge(namespace: string, channel: string, throughSeq: number, notice: string) {
    await this.sql.begin(async (tx) => {
      await tx.unsafe(
        `insert into catbus_stream_first_kept
         select $1, min(seq) from catbus_stream_messages where namespace = $1
         having min(seq) is not null on conflict (namespace) do nothing`,
        [namespace],
      );
      await tx.unsafe(
        `delete from catbus_stream_messages where namespace = $1 and seq <= $3
           and seq > coalesce((select through from catbus_stream_purges
             where namespace = $1 and channel = $2), 0)
           and catbus_record_channel(data) = $2`,
        [namespace, channel, throughSeq],
      );
      await tx.unsafe(
        `insert into catbus_stream_purges values ($1, $2, $3) on conflict (namespace, channel)
         do update set through = greatest(catbus_stream_purges.through, excluded.through)`,
        [namespace, channel, throughSeq],
      );
      await tx.unsafe("select pg_notify(catbus_stream_channel($1), $2)", [namespace, notice]);
    });
  }

  async namespaces(): Promise<string[]> {
    const rows = await this.sql`select name from catbus_stream_names order by name`;
    return rows.map((r) => r.name);
  }

  /**
   * Partitions: makes today's and tomorrow's; with `dropBefore`, drops those wholly older and
   * forgets expired dedupe keys. A lock wait is bounded, so a long transaction holding the
   * table never queues publishes behind this.
   */
  async maintain(dropBefore?: number): Promise<{ made: number; dropped: number }> {
    return await this.sql.begin(async (tx) => {
      await tx`set local lock_timeout = '2s'`;
      const [made] = await tx`select catbus_stream_partitions(now(), 2) as n`;
      let dropped = 0;
      if (dropBefore !== undefined) {
        const [row] = await tx`select catbus_stream_drop_partitions(
          to_timestamp(${dropBefore} / 1000.0)) as n`;
        dropped = row.n;
      }
      await tx`delete from catbus_stream_keys where expires_at < now()`;
      return { made: made.n, dropped };
    });
  }
}

function entries(rows: readonly Record<string, unknown>[]): Entry[] {
  return rows.map((r) => ({
    seq: r.seq as number,
    time: r.time as number,
    data: r.data as Uint8Array,
  }));
}
