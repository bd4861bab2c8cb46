import type { BusMessage } from "./message.ts";
import type { Namespace } from "./namespace.ts";
import { MessageRecords, type StoredRecords } from "./stored-records.ts";

/** What a reader of a namespace wants besides unexpired messages within the per-channel limit. */
export interface ReadFilter {
  /** Only channels this accepts (all when absent). */
  channel?: (channel: string) => boolean;
  /** Every delivered message, expired ones too (a lookup by id); never purged ones. */
  all?: boolean;
}

/** The messages one read found for its reader, and the sequence its next read starts from. */
export interface ReadChunk {
  messages: BusMessage[];
  next: number;
}

/** One read of storage as stored records, and which of them the reader wants. */
export interface StoredChunk {
  records: StoredRecords;
  /** Indexes into `records` of the wanted ones, in order. */
  picks: Int32Array;
  next: number;
}

/** Most messages one read from memory returns (a reader that stops early copies little). */
const MEMORY_CHUNK = 256;

/**
 * The one reader of "a namespace's messages from seq N" — for replays, durable consumers and
 * start positions alike. It reads what has been delivered (up to the namespace's `lastSeq`), from
 * the in-memory history where it still holds them and from storage before that, and applies
 * purges, TTL, the per-channel limit and the reader's filter here, once.
 */
export class StreamReader {
  readonly #ns: Namespace;
  readonly #filter: ReadFilter;

  constructor(ns: Namespace, filter: ReadFilter = {}) {
    this.#ns = ns;
    this.#filter = filter;
  }

  /** True when memory holds every delivered message from `seq` on. */
  inMemory(seq: number): boolean {
    return this.#ns.inMemory(seq);
  }

  /** Synchronous: the wanted messages from `seq` on in memory (see inMemory), one chunk. */
  fromMemory(seq: number): ReadChunk {
    const found = this.#ns.fromMemory(seq, MEMORY_CHUNK);
    return this.#chunk(found, found.length ? found[found.length - 1].seq + 1 : seq);
  }

  /**
   * One chunk of storage from `seq` on, only what has been delivered. `next` is past what was
   * looked at; a chunk that found nothing stored (trimmed) starts the next read in memory.
   */
  async fromStorage(seq: number): Promise<ReadChunk> {
    const { records, picks, next } = await this.storedChunk(seq);
    return { messages: Array.from(picks, (i) => records.message(i)), next };
  }

  /**
   * fromStorage as the stored records and the picks among them: the filter is decided on
   * positions, expiry and the channel (one decision per run of records on a channel), and no
   * message is built.
   */
  async storedChunk(seq: number): Promise<StoredChunk> {
    const ns = this.#ns;
    for await (const records of ns.readRecords(seq)) {
      if (!records.length) continue;
      let delivered = 0;
      while (delivered < records.length && records.seq(delivered) <= ns.lastSeq) delivered++;
      const picks = new Int32Array(delivered);
      const now = Date.now();
      let n = 0, channel = "", wanted = false;
      for (let i = 0; i < delivered; i++) {
        const c = records.channel(i);
        if (c !== channel) wanted = this.#wantsChannel(channel = c);
        if (wanted && this.#keep(c, records.seq(i), records.expiresAt(i), now)) picks[n++] = i;
      }
      const next = delivered ? records.seq(delivered - 1) + 1 : ns.lastSeq + 1;
      return { records, picks: picks.subarray(0, n), next };
    }
    return {
      records: new MessageRecords([], ns.epoch),
      picks: new Int32Array(0),
      next: ns.firstInMemory,
    };
  }

  /**
   * The next chunk from `seq` on, from memory or storage; undefined when a memory-only namespace
   * no longer holds `seq` (evicted: the reader lost messages).
   */
  read(seq: number): ReadChunk | Promise<ReadChunk> | undefined {
    if (this.inMemory(seq)) return this.fromMemory(seq);
    if (this.#ns.stored) return this.fromStorage(seq);
    return undefined;
  }

  /** Every wanted message from `seq` on, in chunks, skipping evicted ones. */
  async *batches(seq: number): AsyncGenerator<BusMessage[]> {
    let next = Math.max(seq, this.#ns.firstSeq);
    while (next <= this.#ns.lastSeq) {
      const chunk = await this.read(next);
      if (!chunk) next = this.#ns.firstInMemory;
      else {
        if (chunk.next <= next) return;
        if (chunk.messages.length) yield chunk.messages;
        next = chunk.next;
      }
    }
  }

  /** The newest wanted message in memory (a start from "last"). */
  newest(): BusMessage | undefined {
    for (const m of this.#ns.newestFirst()) if (this.#keepMessage(m, Date.now())) return m;
    return undefined;
  }

  #chunk(found: BusMessage[], next: number): ReadChunk {
    const now = Date.now();
    return { messages: found.filter((m) => this.#keepMessage(m, now)), next };
  }

  #keepMessage(m: BusMessage, now: number): boolean {
    return this.#wantsChannel(m.channel) && this.#keep(m.channel, m.seq, m.expiresAt ?? 0, now);
  }

  #wantsChannel(channel: string): boolean {
    return this.#filter.all || !this.#filter.channel || this.#filter.channel(channel);
  }

  /** Past the channel filter: not purged, unexpired, within the per-channel limit (or all). */
  #keep(channel: string, seq: number, expiresAt: number, now: number): boolean {
    if (this.#ns.isPurged(channel, seq)) return false;
    if (this.#filter.all) return true;
    if (expiresAt && expiresAt <= now) return false;
    return this.#ns.withinChannelLimit(channel, seq);
  }
}
