import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { BusMessage } from "../core/message.ts";
import type { AppendRequest, EngineStream, StreamListener } from "../core/stream-engine.ts";
import type { RetentionPolicy } from "./durable-stream.ts";
import { decodeStored, toBusMessage } from "./record.ts";

/** Entries one read fetches. */
const READ_BATCH = 512;

/** One stored message of a shared engine: its position, the engine's time, the stored record. */
export interface Entry {
  seq: number;
  time: number;
  data: Uint8Array;
}

/** A namespace's head as the engine reports it. */
export interface SharedHead {
  epoch: string;
  /** The last sequence before the epoch began. */
  base: number;
  /** Oldest retained sequence (0 when empty), when the answer carries it. */
  firstSeq?: number;
}

/** What the engine answered for a batch of appends. */
export interface AppendAnswer extends SharedHead {
  time: number;
  /** Per message: its sequence, or minus the sequence first stored with its dedupe key. */
  results: number[];
}

export interface SharedStreamOptions {
  /** Fields that name this stream in log lines. */
  where: Record<string, unknown>;
  /** The failure of appends whose messages the engine lost before they were delivered. */
  lost: CatbusError;
  /** Where failures that only the operator can act on go. */
  warn(message: string, fields: Record<string, unknown>): void;
  /** A statement failed (the engine may find out it is unreachable). */
  failed?(error: unknown): void;
  /** The stream started a new epoch (the engine lost data). */
  renewed?(): void;
}

/**
 * What every shared engine's stream does once the engine has numbered a message: hand the
 * listener every message in sequence order — this node's own appends (from the engine's answer),
 * other nodes' (pushed to `accept`, or read back by `fill`) — with no gap and no repeat; read
 * the engine across a gap; follow the engine's word on the epoch. A subclass appends and reads
 * its engine; the ordering lives here once.
 */
export abstract class SharedStream implements EngineStream {
  readonly #listener: StreamListener;
  readonly #options: SharedStreamOptions;
  #epoch: string;
  /** Epochs this stream left: their late answers are stale. */
  readonly #past = new Set<string>();
  #firstSeq: number;
  /** The durable watermark: every message up to it was handed to the listener. */
  #delivered: number;
  /** Messages past the watermark, waiting for the ones before them. */
  readonly #pending = new Map<number, BusMessage>();
  /** Appended here and not yet handed over, by id (a copy read back is replaced by these). */
  readonly #own = new Map<string, BusMessage>();
  #following = false;
  /** Reads the engine up to `#fillTo` (Infinity: to its end) while set. */
  #filling?: Promise<void>;
  #fillTo = 0;
  /** A reason to read again came while a read to the end was in flight. */
  #again = false;

  /**
   * `fromBase`: another node just created the namespace, so every message of its epoch is
   * handed over once the hub follows (else the hub starts at the top).
   */
  protected constructor(
    listener: StreamListener,
    options: SharedStreamOptions,
    head: SharedHead & { top: number },
    fromBase: boolean,
  ) {
    this.#listener = listener;
    this.#options = options;
    this.#epoch = head.epoch;
    this.#firstSeq = head.firstSeq ?? 0;
    this.#delivered = fromBase ? head.base : head.top;
    this.#fillTo = head.top;
  }

  /** Stored entries with from ≤ seq ≤ to (Infinity: the newest), oldest first, at most `count`. */
  protected abstract range(from: number, to: number, count: number): Promise<Entry[]>;
  /** The newest stored entries with seq ≤ `to`, newest first, at most `count`. */
  protected abstract newest(to: number, count: number): Promise<Entry[]>;
  /** The first stored sequence at or after `time`, or 0 when none is. */
  protected abstract firstAtOrAfter(time: number): Promise<number>;
  /** Retention: drops the stored entries before `seq` (exactly). */
  abstract trimBefore(seq: number): Promise<void>;
  /** Deletes the channel's entries through `throughSeq`, then tells the other nodes. */
  abstract purgeChannel(channel: string, throughSeq: number): Promise<void>;

  /** A node (maybe this one) purged `channel` through `throughSeq`: the hub forgets them too. */
  heardPurge(channel: string, throughSeq: number): void {
    this.#listener.purged?.(channel, throughSeq);
  }

  get epoch(): string {
    return this.#epoch;
  }

  get firstSeq(): number {
    return this.#firstSeq;
  }

  protected set firstSeq(seq: number) {
    this.#firstSeq = seq;
  }

  get lastSeq(): number {
    return this.#delivered;
  }

  /** What this node saw: a lower top in the same epoch means the engine lost data. */
  protected get known(): { epoch: string; seq: number } {
    return { epoch: this.#epoch, seq: this.#delivered };
  }

  follow(): void {
    this.#following = true;
    this.fill(this.#fillTo);
    this.drain();
  }

  abstract append(batch: AppendRequest[]): void;

  /** These appends are on their way to the engine: answers and read-backs are matched to them. */
  protected sending(batch: AppendRequest[]): void {
    for (const { message } of batch) this.#own.set(message.id, message);
  }

  /** The engine's answer for `chunk`. */
  protected appended(chunk: AppendRequest[], answer: AppendAnswer): void {
    if (!this.observe(answer)) {
      return this.failOwn(chunk.map((r) => r.message.id), this.#options.lost);
    }
    const duplicates: BusMessage[] = [];
    chunk.forEach(({ message }, i) => {
      const seq = answer.results[i];
      message.epoch = answer.epoch;
      message.time = answer.time;
      message.seq = Math.abs(seq);
      if (seq < 0) {
        this.#own.delete(message.id);
        duplicates.push(message);
      } else if (seq > this.#delivered) this.#pending.set(seq, message);
    });
    for (const m of duplicates) this.#listener.duplicate?.(m);
    this.drain();
  }

  /** These appends failed: none is stored (or their answer is lost). */
  protected failOwn(ids: string[], error: CatbusError): void {
    const failed = ids.filter((id) => this.#own.delete(id));
    if (failed.length) this.#listener.failed(failed, error);
  }

  /** An entry of the current epoch another node's append brought (pushed, or read back). */
  protected accept(entry: Entry): void {
    const { seq, time, data } = entry;
    if (seq <= this.#delivered || this.#pending.has(seq)) return;
    const stored = decodeStored(data);
    const own = this.#own.get(stored.id);
    if (own) Object.assign(own, { epoch: this.#epoch, seq, time });
    this.#pending.set(seq, own ?? toBusMessage(stored, this.#epoch, seq, time));
  }

  /**
   * Takes the engine's word on the epoch: a new one (the engine lost data) drops what this node
   * held of the old one. False when `head` is from an epoch already left (a stale answer).
   */
  protected observe(head: SharedHead): boolean {
    if (head.epoch === this.#epoch) {
      if (head.firstSeq !== undefined) this.#firstSeq = head.firstSeq;
      return true;
    }
    if (this.#past.has(head.epoch)) return false;
    this.#options.warn("the stream engine lost data; the namespace starts a new epoch", {
      ...this.#options.where,
      epoch: head.epoch,
      previous_epoch: this.#epoch,
    });
    this.#past.add(this.#epoch);
    this.#epoch = head.epoch;
    this.#firstSeq = head.firstSeq ?? 0;
    this.#delivered = this.#fillTo = head.base;
    const dropped = [...this.#pending.values()].filter((m) => this.#own.delete(m.id));
    this.#pending.clear();
    this.#listener.reset?.();
    this.#options.renewed?.();
    if (dropped.length) this.#listener.failed(dropped.map((m) => m.id), this.#options.lost);
    return true;
  }

  /** Hands over what follows the watermark without a gap; reads the engine across a gap. */
  protected drain(): void {
    if (!this.#following) return;
    const out: BusMessage[] = [];
    for (let m; (m = this.#pending.get(this.#delivered + 1));) {
      this.#pending.delete(m.seq);
      this.#own.delete(m.id);
      this.#delivered = m.seq;
      out.push(m);
    }
    if (out.length) {
      // The stream was empty: its first message is the oldest retained.
      if (!this.#firstSeq) this.#firstSeq = out[0].seq;
      this.#listener.durable(out);
    }
    if (this.#pending.size) {
      let first = Infinity;
      for (const seq of this.#pending.keys()) first = Math.min(first, seq);
      this.fill(first - 1);
    }
  }

  /**
   * Reads the engine up to `to` (a gap, a top this node has not seen), or to its end
   * (Infinity: told that something follows, without where it ends). A call while a read to the
   * end is in flight makes it read again: what it announced may be past that read.
   */
  protected fill(to: number): void {
    this.#fillTo = Math.max(this.#fillTo, to);
    this.#again = true;
    if (this.#filling || !this.#following || this.#delivered >= this.#fillTo) return;
    this.#filling = (async () => {
      while (this.#delivered < this.#fillTo) {
        const epoch = this.#epoch;
        const from = this.#delivered + 1;
        const open = this.#fillTo === Infinity;
        this.#again = false;
        const found = await this.range(from, this.#fillTo, READ_BATCH);
        if (epoch !== this.#epoch) continue;
        if (open && !found.length) {
          if (this.#again) continue;
          break;
        }
        if (found[0]?.seq !== from) this.#skip((found[0]?.seq ?? this.#fillTo + 1) - 1);
        for (const entry of found) this.accept(entry);
        this.drain();
        if (open && found.length < READ_BATCH && !this.#again) break;
      }
      if (this.#fillTo === Infinity) this.#fillTo = this.#delivered;
    })().catch((e) => {
      this.#options.failed?.(e);
      this.#options.warn("reading the stream engine failed; retried on the next check", {
        ...this.#options.where,
        error: String(e),
      });
    }).finally(() => this.#filling = undefined);
  }

  /** Messages up to `seq` are gone from the engine before this node saw them. */
  #skip(seq: number): void {
    // A read that started before the node moved past `seq` (its own appends, live batches) and
    // found a hole there (a purge) is stale: the watermark never goes back.
    if (seq <= this.#delivered) return;
    this.#options.warn("messages were trimmed before this node read them", {
      ...this.#options.where,
      from_seq: this.#delivered + 1,
      to_seq: seq,
    });
    this.#delivered = seq;
    this.#listener.reset?.();
  }

  async *#entries(fromSeq: number): AsyncGenerator<Entry[]> {
    for (let from = Math.max(1, fromSeq);;) {
      const found = await this.range(from, Infinity, READ_BATCH);
      if (!found.length) return;
      yield found;
      if (found.length < READ_BATCH) return;
      from = found[found.length - 1].seq + 1;
    }
  }

  async *read(fromSeq: number): AsyncGenerator<BusMessage[]> {
    for await (const found of this.#entries(fromSeq)) yield found.map((e) => this.#message(e));
  }

  #message(e: Entry): BusMessage {
    return toBusMessage(decodeStored(e.data), this.#epoch, e.seq, e.time);
  }

  async seekTime(time: number): Promise<number> {
    return await this.firstAtOrAfter(time) || this.#delivered + 1;
  }

  async tail(n: number): Promise<BusMessage[]> {
    if (n <= 0 || this.#delivered === 0) return [];
    const found = await this.newest(this.#delivered, n);
    return found.reverse().map((e) => this.#message(e));
  }

  async recentKeys(since: number): Promise<Map<string, BusMessage>> {
    const keys = new Map<string, BusMessage>();
    for await (const found of this.#entries(await this.seekTime(since))) {
      for (const e of found) {
        if (e.seq > this.#delivered) return keys;
        const stored = decodeStored(e.data);
        if (stored.key) keys.set(stored.key, toBusMessage(stored, this.#epoch, e.seq, e.time));
      }
    }
    return keys;
  }
}

/**
 * A shared engine's count and age limits, exact at each call: each stream drops what is before
 * its cutoff (never its newest message).
 */
export async function trimByCountAndAge(
  streams: Iterable<SharedStream>,
  { maxMessages, maxAgeMs }: RetentionPolicy,
  now: number,
): Promise<void> {
  for (const stream of streams) {
    let cutoff = 0;
    if (maxMessages > 0) cutoff = stream.lastSeq - maxMessages + 1;
    if (maxAgeMs > 0) cutoff = Math.max(cutoff, await stream.seekTime(now - maxAgeMs));
    cutoff = Math.min(cutoff, stream.lastSeq);
    if (cutoff > stream.firstSeq) await stream.trimBefore(cutoff);
  }
}

/** The refusal of a namespace past --max-namespaces, whichever shared engine counts them. */
export const tooManyNamespaces = (name: string, max: number) =>
  new CatbusError(
    ErrorCode.LimitExceeded,
    `namespace "${name}" would be one more than --max-namespaces ${max}; publish into an ` +
      `existing namespace, or raise the limit`,
  );
