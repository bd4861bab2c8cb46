import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { randomId } from "../../core/ids.ts";
import type { BusMessage } from "../../core/message.ts";
import type { AppendRequest, EngineStream, StreamListener } from "../../core/stream-engine.ts";
import { decodeStored, encodeAppended, toBusMessage } from "../record.ts";
import type { Entry, Head, ValkeyCommands } from "./commands.ts";
import type { NamespaceKeys } from "./keys.ts";
import type { LiveBatch } from "./live-batch.ts";

/** Most messages one append script takes (Lua's unpack has a stack limit). */
const SCRIPT_BATCH = 1000;
/** Entries one stream read fetches. */
const READ_BATCH = 512;

export interface ValkeyStreamOptions {
  /** How long the engine remembers a dedupe key, ms (0 = dedupe off). */
  dedupeWindowMs: number;
  /** Approximate most entries kept by every append (0 = no limit). */
  maxLen: number;
  /** Where failures that only the operator can act on go. */
  warn(message: string, fields: Record<string, unknown>): void;
  /** The stream started a new epoch (the engine lost data). */
  renewed(): void;
}

const unavailable = (e: unknown) =>
  new CatbusError(
    ErrorCode.Unavailable,
    `the stream engine (Valkey) did not confirm the publish: ${(e as Error).message ?? e}; ` +
      "retry it (a publish with a dedupe key is stored once)",
    { cause: e },
  );

const lost = new CatbusError(
  ErrorCode.Unavailable,
  "the stream engine (Valkey) lost these messages before they were delivered (it restarted " +
    "without persistence); publish them again",
);

/**
 * One namespace's stream in Valkey, shared by every node. The append script numbers and stores
 * each batch and publishes it on the namespace's live channel; this node hands the listener
 * every message in sequence order — its own (from the script's answer), other nodes' (from the
 * live channel) and any it missed (read from the stream: a gap, a stalled subscription).
 */
export class ValkeyStream implements EngineStream {
  readonly #commands: ValkeyCommands;
  readonly #keys: NamespaceKeys;
  readonly #listener: StreamListener;
  readonly #options: ValkeyStreamOptions;
  #epoch: string;
  /** Epochs this stream left: their late answers and publications are stale. */
  readonly #past = new Set<string>();
  #firstSeq: number;
  /** The durable watermark: every message up to it was handed to the listener. */
  #delivered: number;
  /** Messages past the watermark, waiting for the ones before them. */
  readonly #pending = new Map<number, BusMessage>();
  /** Appended here and not yet handed over, by id (a copy read back is replaced by these). */
  readonly #own = new Map<string, BusMessage>();
  #queue: AppendRequest[] = [];
  #following = false;
  /** Reads the stream up to `#fillTo` while set. */
  #filling?: Promise<void>;
  #fillTo = 0;

  /**
   * `fromBase`: the namespace was just created by another node, so every message of its epoch
   * is handed over once the hub follows (else the hub starts at the top).
   */
  constructor(
    commands: ValkeyCommands,
    keys: NamespaceKeys,
    listener: StreamListener,
    options: ValkeyStreamOptions,
    head: Head,
    fromBase: boolean,
  ) {
    this.#commands = commands;
    this.#keys = keys;
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

  get keys(): NamespaceKeys {
    return this.#keys;
  }

  follow(): void {
    this.#following = true;
    this.#fill(this.#fillTo);
    this.#drain();
  }

  /** Queued and sent as one script with every append made in the same turn. */
  append(batch: AppendRequest[]): void {
    for (const { message } of batch) this.#own.set(message.id, message);
    if (!this.#queue.length) queueMicrotask(() => this.#flush());
    this.#queue.push(...batch);
  }

  #flush(): void {
    const queue = this.#queue;
    this.#queue = [];
    const { dedupeWindowMs, maxLen } = this.#options;
    for (let i = 0; i < queue.length; i += SCRIPT_BATCH) {
      const chunk = queue.slice(i, i + SCRIPT_BATCH);
      const items = chunk.map(({ message, key }) => ({
        key: key !== undefined && dedupeWindowMs > 0 ? this.#keys.dedupe(key) : undefined,
        data: encodeAppended(message, key),
      }));
      this.#commands.append(this.#keys, randomId(8), this.#known, { dedupeWindowMs, maxLen }, items)
        .then(
          (answer) => this.#appended(chunk, answer),
          (e) => this.#failed(chunk.map((r) => r.message.id), unavailable(e)),
        );
    }
  }

  get #known() {
    return { epoch: this.#epoch, seq: this.#delivered };
  }

  #appended(chunk: AppendRequest[], answer: Awaited<ReturnType<ValkeyCommands["append"]>>) {
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

  /** Another node's (or this node's) batch, from the live channel. */
  live(batch: LiveBatch): void {
    if (!this.#observe(batch)) return;
    for (const entry of batch.entries) this.#accept(entry);
    this.#drain();
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
  #observe(head: { epoch: string; base: number; firstSeq: number }): boolean {
    if (head.epoch === this.#epoch) {
      this.#firstSeq = head.firstSeq;
      return true;
    }
    if (this.#past.has(head.epoch)) return false;
    this.#options.warn("the stream engine lost data; the namespace starts a new epoch", {
      stream: this.#keys.stream,
      epoch: head.epoch,
      previous_epoch: this.#epoch,
    });
    this.#past.add(this.#epoch);
    this.#epoch = head.epoch;
    this.#firstSeq = head.firstSeq;
    this.#delivered = this.#fillTo = head.base;
    const dropped = [...this.#pending.values()].filter((m) => this.#own.delete(m.id));
    this.#pending.clear();
    this.#listener.reset?.();
    this.#options.renewed();
    if (dropped.length) this.#listener.failed(dropped.map((m) => m.id), lost);
    return true;
  }

  #failed(ids: string[], error: CatbusError): void {
    const failed = ids.filter((id) => this.#own.delete(id));
    if (failed.length) this.#listener.failed(failed, error);
  }

  /** Hands over what follows the watermark without a gap; reads the stream across a gap. */
  #drain(): void {
    if (!this.#following) return;
    const out: BusMessage[] = [];
    for (let m; (m = this.#pending.get(this.#delivered + 1));) {
      this.#pending.delete(m.seq);
      this.#own.delete(m.id);
      this.#delivered = m.seq;
      out.push(m);
    }
    if (out.length) this.#listener.durable(out);
    if (this.#pending.size) {
      let first = Infinity;
      for (const seq of this.#pending.keys()) first = Math.min(first, seq);
      this.#fill(first - 1);
    }
  }

  /** Reads the stream up to `to` (a gap, or a top this node has not seen). */
  #fill(to: number): void {
    this.#fillTo = Math.max(this.#fillTo, to);
    if (this.#filling || !this.#following || this.#delivered >= this.#fillTo) return;
    this.#filling = (async () => {
      while (this.#delivered < this.#fillTo) {
        const epoch = this.#epoch;
        const from = this.#delivered + 1;
        const found = await this.#commands.range(this.#keys.stream, from, this.#fillTo, READ_BATCH);
        if (epoch !== this.#epoch) continue;
        if (found[0]?.seq !== from) this.#skip((found[0]?.seq ?? this.#fillTo + 1) - 1);
        for (const entry of found) this.#accept(entry);
        this.#drain();
      }
    })().catch((e) =>
      this.#options.warn("reading the stream engine failed; retried on the next check", {
        stream: this.#keys.stream,
        error: String(e),
      })
    ).finally(() => this.#filling = undefined);
  }

  /** Messages up to `seq` are gone from the stream before this node saw them. */
  #skip(seq: number): void {
    this.#options.warn("messages were trimmed before this node read them", {
      stream: this.#keys.stream,
      from_seq: this.#delivered + 1,
      to_seq: seq,
    });
    this.#delivered = seq;
    this.#listener.reset?.();
  }

  /** Compares with the engine's head: a new epoch, or a top not seen (a stalled subscription). */
  async check(): Promise<void> {
    // The common case (same epoch, top not below what was seen) is one HMGET; the script that
    // may start a new epoch runs only when something is off.
    const peek = await this.#commands.peek(this.#keys);
    if (peek && peek.epoch === this.#epoch && peek.top >= this.#delivered) {
      return this.#fill(peek.top);
    }
    const head = await this.#commands.ensure(this.#keys, randomId(8), this.#known);
    if (this.#observe(head)) this.#fill(head.top);
  }

  /** Retention: drops entries before `seq`. */
  async trimBefore(seq: number): Promise<void> {
    this.#firstSeq = await this.#commands.trimBefore(this.#keys.stream, seq);
  }

  async *#entries(fromSeq: number): AsyncGenerator<Entry[]> {
    for (let from = Math.max(1, fromSeq);;) {
      const found = await this.#commands.range(this.#keys.stream, from, "+", READ_BATCH);
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
    return await this.#commands.seekTime(this.#keys.stream, time) || this.#delivered + 1;
  }

  async tail(n: number): Promise<BusMessage[]> {
    if (n <= 0 || this.#delivered === 0) return [];
    const found = await this.#commands.newest(this.#keys.stream, this.#delivered, n);
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
