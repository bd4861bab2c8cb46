import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import type { BusMessage } from "../../core/message.ts";
import type { AppendRequest, EngineStream, StreamListener } from "../../core/stream-engine.ts";
import { decodeStored, encodeAppended, toBusMessage } from "../record.ts";
import type { Entry, Head, Known, Published, StreamQueries } from "./queries.ts";

/** Most records one catbus_publish call takes. */
const PUBLISH_BATCH = 1000;
/** Rows one read fetches. */
const READ_BATCH = 512;

export interface PostgresStreamOptions {
  /** How long the engine remembers a dedupe key, ms (0 = dedupe off). */
  dedupeWindowMs: number;
  /** False while the engine cannot be reached: appends fail at once. */
  available(): boolean;
  /** A statement failed: the engine finds out whether PostgreSQL is still reachable. */
  failed(error: unknown): void;
  /** Where failures that only the operator can act on go. */
  warn(message: string, fields: Record<string, unknown>): void;
}

const unavailable = (e: unknown) =>
  new CatbusError(
    ErrorCode.Unavailable,
    `the stream engine (PostgreSQL) did not confirm the publish: ${(e as Error).message ?? e}; ` +
      "retry it (a publish with a dedupe key is stored once)",
    { cause: e },
  );

const unreachable = new CatbusError(
  ErrorCode.Unavailable,
  "the stream engine (PostgreSQL) is unreachable; retry shortly (a publish with a dedupe key is " +
    "stored once)",
);

const lost = new CatbusError(
  ErrorCode.Unavailable,
  "the stream engine (PostgreSQL) lost these messages before they were delivered (its data was " +
    "restored or removed); publish them again",
);

/**
 * One namespace's stream in PostgreSQL, shared by every node. catbus_publish numbers and stores
 * each batch and rings the namespace's doorbell at commit; this node hands the listener every
 * message in sequence order — its own (from catbus_publish's answer, once committed), other
 * nodes' and SQL publishers' (read as `seq > last` on the doorbell, or on the engine's poll).
 * Sequences are gap-free in commit order, so a read after a commit sees everything before it.
 */
export class PostgresStream implements EngineStream {
  readonly name: string;
  readonly #queries: StreamQueries;
  readonly #listener: StreamListener;
  readonly #options: PostgresStreamOptions;
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
  #queue: AppendRequest[] = [];
  /** One catbus_publish at a time, so this node's appends are numbered in the order made. */
  #sending = false;
  #following = false;
  /** Reads the table up to `#fillTo` (Infinity: to the end) while set. */
  #filling?: Promise<void>;
  #fillTo = 0;
  /** The doorbell rang since the current read began. */
  #rung = false;

  /** `fromBase`: another node just created the namespace, so its whole epoch is handed over. */
  constructor(
    name: string,
    queries: StreamQueries,
    listener: StreamListener,
    options: PostgresStreamOptions,
    head: Head,
    fromBase: boolean,
  ) {
    this.name = name;
    this.#queries = queries;
    this.#listener = listener;
    this.#options = options;
    this.#epoch = head.epoch;
    this.#firstSeq = head.firstSeq;
    this.#delivered = fromBase ? head.base : head.top;
    this.#fillTo = head.top;
  }

  get epoch(): string {
    return this.#epoch;
  }

  get firstSeq(): number {
    return this.#firstSeq;
  }

  get lastSeq(): number {
    return this.#delivered;
  }

  follow(): void {
    this.#following = true;
    this.#fill(this.#fillTo);
    this.#drain();
  }

  append(batch: AppendRequest[]): void {
    if (!this.#options.available()) {
      return this.#listener.failed(batch.map((r) => r.message.id), unreachable);
    }
    for (const { message } of batch) this.#own.set(message.id, message);
    if (!this.#queue.length && !this.#sending) queueMicrotask(() => this.#send());
    this.#queue.push(...batch);
  }

  /** Sends the queue, one call at a time; what is appended meanwhile goes in the next call. */
  async #send(): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      while (this.#queue.length) {
        const chunk = this.#queue.splice(0, PUBLISH_BATCH);
        const records = chunk.map(({ message, key }) => encodeAppended(message, key));
        try {
          const answer = await this.#queries.publish(
            this.name,
            records,
            this.#options.dedupeWindowMs,
            this.#known,
          );
          this.#appended(chunk, answer);
        } catch (e) {
          this.#options.failed(e);
          this.#failed(chunk.map((r) => r.message.id), unavailable(e));
        }
      }
    } finally {
      this.#sending = false;
    }
  }

  get #known(): Known {
    return { epoch: this.#epoch, seq: this.#delivered };
  }

  #appended(chunk: AppendRequest[], answer: Published): void {
    if (!this.#observe(answer)) return this.#failed(chunk.map((r) => r.message.id), lost);
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
    this.#drain();
  }

  /** The doorbell rang (or the connection came back): reads whatever follows. */
  rang(): void {
    this.#rung = true;
    this.#fill(Infinity);
  }

  /**
   * The engine's poll found this epoch and top (undefined: no row): the same epoch reads up to
   * the top; anything else asks for the head, which starts a new epoch if data was lost.
   */
  async polled(found: { epoch: string; top: number } | undefined): Promise<void> {
    if (found && found.epoch === this.#epoch && found.top >= this.#delivered) {
      return this.#fill(found.top);
    }
    const head = await this.#queries.head(this.name, this.#known);
    if (this.#observe(head)) this.#fill(head.top);
  }

  #accept(entry: Entry): void {
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
  #observe(head: { epoch: string; base: number; firstSeq?: number }): boolean {
    if (head.epoch === this.#epoch) {
      if (head.firstSeq !== undefined) this.#firstSeq = head.firstSeq;
      return true;
    }
    if (this.#past.has(head.epoch)) return false;
    this.#options.warn("the stream engine lost data; the namespace starts a new epoch", {
      namespace: this.name,
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
    if (dropped.length) this.#listener.failed(dropped.map((m) => m.id), lost);
    return true;
  }

  #failed(ids: string[], error: CatbusError): void {
    const failed = ids.filter((id) => this.#own.delete(id));
    if (failed.length) this.#listener.failed(failed, error);
  }

  /** Hands over what follows the watermark without a gap; reads the table across a gap. */
  #drain(): void {
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
      this.#fill(first - 1);
    }
  }

  /** Reads the table up to `to` (Infinity: to its end). */
  #fill(to: number): void {
    this.#fillTo = Math.max(this.#fillTo, to);
    if (this.#filling || !this.#following || this.#delivered >= this.#fillTo) return;
    this.#filling = (async () => {
      while (this.#delivered < this.#fillTo) {
        const epoch = this.#epoch;
        const from = this.#delivered + 1;
        const open = this.#fillTo === Infinity;
        // A doorbell during this read may be for a row it does not see: then it reads again.
        this.#rung = false;
        const found = await this.#queries.range(this.name, from, this.#fillTo, READ_BATCH);
        if (epoch !== this.#epoch) continue;
        if (open && !found.length) {
          if (this.#rung) continue;
          break;
        }
        if (found[0]?.seq !== from) this.#skip((found[0]?.seq ?? this.#fillTo + 1) - 1);
        for (const entry of found) this.#accept(entry);
        this.#drain();
        if (open && found.length < READ_BATCH && !this.#rung) break;
      }
      if (this.#fillTo === Infinity) this.#fillTo = this.#delivered;
    })().catch((e) => {
      this.#options.failed(e);
      this.#options.warn("reading the stream engine failed; retried on the next poll", {
        namespace: this.name,
        error: String(e),
      });
    }).finally(() => this.#filling = undefined);
  }

  /** Messages up to `seq` are gone from the table before this node saw them. */
  #skip(seq: number): void {
    this.#options.warn("messages were trimmed before this node read them", {
      namespace: this.name,
      from_seq: this.#delivered + 1,
      to_seq: seq,
    });
    this.#delivered = seq;
    this.#listener.reset?.();
  }

  /** Retention: drops messages before `seq`. */
  async trimBefore(seq: number): Promise<void> {
    this.#firstSeq = await this.#queries.trimBefore(this.name, seq);
  }

  /** After partitions were dropped: the oldest message left. */
  async refreshFirst(): Promise<void> {
    this.#firstSeq = await this.#queries.firstSeq(this.name);
  }

  async *#entries(fromSeq: number): AsyncGenerator<Entry[]> {
    for (let from = Math.max(1, fromSeq);;) {
      const found = await this.#queries.range(this.name, from, Infinity, READ_BATCH);
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
    return await this.#queries.seekTime(this.name, time) || this.#delivered + 1;
  }

  async tail(n: number): Promise<BusMessage[]> {
    if (n <= 0 || this.#delivered === 0) return [];
    const found = await this.#queries.newest(this.name, this.#delivered, n);
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
