import type { BusMessage } from "./message.ts";
import type { Namespace } from "./namespace.ts";

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
    const ns = this.#ns;
    for await (const stored of ns.readStored(seq)) {
      if (!stored.length) continue;
      const delivered = stored.filter((m) => m.seq <= ns.lastSeq);
      return this.#chunk(delivered, delivered.length ? delivered.at(-1)!.seq + 1 : ns.lastSeq + 1);
    }
    return { messages: [], next: ns.firstInMemory };
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
    for (const m of this.#ns.newestFirst()) if (this.#keep(m, Date.now())) return m;
    return undefined;
  }

  #chunk(found: BusMessage[], next: number): ReadChunk {
    const now = Date.now();
    return { messages: found.filter((m) => this.#keep(m, now)), next };
  }

  #keep(m: BusMessage, now: number): boolean {
    if (this.#ns.isPurged(m.channel, m.seq)) return false;
    const { channel, all } = this.#filter;
    if (all) return true;
    if (m.expiresAt && m.expiresAt <= now) return false;
    if (channel && !channel(m.channel)) return false;
    return this.#ns.withinChannelLimit(m.channel, m.seq);
  }
}
