import { Buffer } from "node:buffer";
import type { Connection } from "./connection.ts";
import { APPEND, APPEND_SHARDED, ENSURE, PURGE, PURGE_SHARDED, SEEK_TIME } from "./scripts.ts";
import type { NamespaceKeys } from "./keys.ts";
import type { Entry } from "../shared-stream.ts";

/** A namespace's head in the engine (see scripts.ts HEAD). */
export interface Head {
  epoch: string;
  /** The last sequence before the epoch began. */
  base: number;
  top: number;
  /** Oldest retained sequence (0 when empty). */
  firstSeq: number;
}

/** What the append script answered for a batch (see scripts.ts APPEND). */
export interface Appended extends Omit<Head, "top"> {
  time: number;
  /** Per message: its sequence, or minus the sequence first stored with its dedupe key. */
  results: number[];
}

export interface AppendItem {
  /** Its dedupe key (already prefixed), if any. */
  key?: string;
  data: Uint8Array;
}

type Script = (...args: (string | number | Uint8Array)[]) => Promise<unknown>;
type Scripted = Connection & {
  catbusEnsure: Script;
  catbusAppend: Script;
  catbusSeekTime: Script;
  catbusPurge: Script;
};

/** Entries one purge script looks at (a bounded pause of the server per call). */
const PURGE_RUN = 2000;

const seqOfId = (id: Uint8Array) => parseInt(new TextDecoder().decode(id), 10);

/** The engine's commands on one Valkey connection: its scripts and the stream reads. */
export class ValkeyCommands {
  readonly client: Scripted;

  /** `sharded`: live channels are shard channels (a Redis Cluster). */
  constructor(client: Connection, sharded = false) {
    client.defineCommand("catbusEnsure", { lua: ENSURE, numberOfKeys: 2 });
    client.defineCommand("catbusAppend", { lua: sharded ? APPEND_SHARDED : APPEND });
    client.defineCommand("catbusSeekTime", { lua: SEEK_TIME, numberOfKeys: 1 });
    client.defineCommand("catbusPurge", { lua: sharded ? PURGE_SHARDED : PURGE, numberOfKeys: 3 });
    this.client = client as Scripted;
  }

  /** The namespace's head, starting a new epoch when the engine lost what `known` saw. */
  async ensure(keys: NamespaceKeys, epoch: string, known: { epoch: string; seq: number }) {
    const [e, base, top, firstSeq] = await this.client.catbusEnsure(
      keys.meta,
      keys.stream,
      epoch,
      known.epoch,
      known.seq,
    ) as [string, number, number, number];
    return { epoch: e, base, top, firstSeq } satisfies Head;
  }

  /** The epoch and top as they are (no script; undefined when the namespace has no head). */
  async peek(keys: NamespaceKeys): Promise<{ epoch: string; top: number } | undefined> {
    const [epoch, top] = await this.client.hmget(keys.meta, "e", "s");
    return epoch ? { epoch, top: Number(top ?? 0) } : undefined;
  }

  async append(
    keys: NamespaceKeys,
    epoch: string,
    known: { epoch: string; seq: number },
    options: { dedupeWindowMs: number; maxLen: number },
    items: AppendItem[],
  ): Promise<Appended> {
    const dedupe: string[] = [];
    const pairs: (string | number | Uint8Array)[] = [];
    for (const item of items) {
      // KEYS[1] and [2] are meta and stream; dedupe keys follow.
      pairs.push(
        item.key === undefined ? 0 : dedupe.push(item.key) + 2,
        // The client sends a Buffer as bytes (any other Uint8Array as text).
        Buffer.from(item.data.buffer, item.data.byteOffset, item.data.byteLength),
      );
    }
    const reply = await this.client.catbusAppend(
      2 + dedupe.length,
      keys.meta,
      keys.stream,
      ...dedupe,
      epoch,
      known.epoch,
      known.seq,
      options.dedupeWindowMs,
      options.maxLen,
      keys.live,
      ...pairs,
    ) as [string, number, number, number, ...number[]];
    const [e, base, firstSeq, time, ...results] = reply;
    return { epoch: e, base, firstSeq, time, results };
  }

  /** Entries with from ≤ seq ≤ to, oldest first, at most `count`. */
  async range(stream: string, from: number, to: number | "+", count: number): Promise<Entry[]> {
    const end = to === "+" ? to : `${to}-0`;
    return entries(await this.client.xrangeBuffer(stream, `${from}-0`, end, "COUNT", count));
  }

  /** The newest entries with seq ≤ `to`, newest first, at most `count`. */
  async newest(stream: string, to: number, count: number): Promise<Entry[]> {
    return entries(await this.client.xrevrangeBuffer(stream, `${to}-0`, "-", "COUNT", count));
  }

  /** The first sequence at or after `time`, or 0 when none is. */
  async seekTime(stream: string, time: number): Promise<number> {
    return Number(await this.client.catbusSeekTime(stream, time));
  }

  /**
   * Drops entries before `seq` (exactly); returns the oldest retained sequence, `seq` (kept as
   * meta `f`: purged entries after it are no loss).
   */
  async trimBefore(keys: NamespaceKeys, seq: number): Promise<number> {
    await this.client.xtrim(keys.stream, "MINID", `${seq}-0`);
    await this.client.hset(keys.meta, "f", seq);
    return seq;
  }

  /** Deletes `channel`'s entries through `throughSeq`, a run at a time; `notice` tells the nodes. */
  async purge(keys: NamespaceKeys, channel: string, throughSeq: number, notice: string) {
    const args = [keys.meta, keys.stream, keys.purges, channel, throughSeq, PURGE_RUN];
    while (await this.client.catbusPurge(...args, keys.live, notice) === 1);
  }
}

function entries(raw: [Uint8Array, Uint8Array[]][]): Entry[] {
  return raw.map(([id, fields]) => {
    const entry: Entry = { seq: seqOfId(id), time: 0, data: new Uint8Array() };
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i][0];
      if (name === 0x74 /* t */) entry.time = Number(new TextDecoder().decode(fields[i + 1]));
      else if (name === 0x64 /* d */) entry.data = fields[i + 1];
    }
    return entry;
  });
}
