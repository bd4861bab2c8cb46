import type { ChannelCap } from "./channel-cap.ts";
import { Fifo } from "./fifo.ts";
import { History, type HistoryLimits } from "./history.ts";
import { PurgedChannels } from "./purged-channels.ts";
import type { BusMessage } from "./message.ts";
import type { AppendRequest, EngineStream } from "./stream-engine.ts";
import { MessageRecords, type StoredRecords } from "./stored-records.ts";
import type { Position } from "../../client/shared/messages.ts";

/**
 * How each publish of a batch ends (see Broker.publishBatch): one call per publish, with the
 * publisher's own `tag` for it (a request id), so a batch needs no promise or closure per message.
 */
export interface PublishOutcome<T> {
  /** Durable and delivered (and confirmed, when asked); a repeated key: the first message. */
  published(tag: T, message: BusMessage & { duplicate?: boolean }): void;
  failed(tag: T, error: unknown, channel: string): void;
}

/** A publish waiting for its message to be durable (see Broker.publishBatch). */
export interface Publishing {
  message: BusMessage;
  tag: unknown;
  outcome: PublishOutcome<unknown>;
  /** Consumer acks to wait for, for how long (ms), counted from when (ms). */
  confirm?: { count: number; timeoutMs: number; since: number };
}

/** How a stored namespace warms its memory when it is opened. */
export interface RestoreOptions {
  /** Messages of the log's tail to keep in memory. */
  tail: number;
  /** Dedupe keys of messages stored since then (ms) are remembered again… */
  keysSince: number;
  /** …each for this long after its message's time (ms). */
  keyLifetimeMs: number;
}

/**
 * One namespace: its stream, the delivered watermark, the in-memory tail (hot cache of the log,
 * or the only history without storage), the dedupe window and the publishes not yet durable. Its
 * state is its own: the hub and the stream reader use it through these methods.
 */
export class Namespace {
  readonly name: string;
  /** The namespace's stream in the engine (or in memory): it numbers and stores messages. */
  readonly #stream: EngineStream;
  /** True when the stream stores messages (a memory stream keeps none). */
  readonly stored: boolean;
  /** Highest sequence delivered to subscribers: the position new subscriptions start from. */
  #lastSeq: number;
  /** Time of the newest message handed out (ms): times never go backwards in a namespace. */
  #newestTime = 0;
  readonly #history: History;
  /** Dedupe keys → the message first published with them, and when the key expires. */
  readonly #keys = new Map<string, { message: Promise<BusMessage>; until: number }>();
  /**
   * Publishes appended and not yet durable, in append order; a fan-in of many publishers to a
   * stored namespace can leave 100k of them waiting for the log, so not an Array (see fifo.ts).
   */
  readonly #publishing = new Fifo<Publishing>();
  /** Replay at most this many newest messages per channel (0 = no limit). */
  readonly #perChannel: number;
  /**
   * With a per-channel limit: the newest sequences of each channel (at most the limit), so
   * readers skip messages that have more than `limit` newer ones on their channel.
   */
  readonly #channelTail = new Map<string, Fifo<number>>();
  /** Purged channels: readers skip what memory (or storage, until the purge ends) still holds. */
  readonly #purged = new PurgedChannels();
  /** Keeps each channel to its newest messages, when set (see ChannelCap). */
  #cap?: ChannelCap;
  /** The last purge given to the stream, and the ones waiting for it by channel. */
  #purging: Promise<void> = Promise.resolve();
  readonly #waitingPurges = new Map<string, { through: number; done: Promise<void> }>();

  constructor(
    name: string,
    limits: HistoryLimits,
    stream: EngineStream,
    options: { stored: boolean; perChannel?: number },
  ) {
    this.name = name;
    this.#stream = stream;
    this.stored = options.stored;
    this.#perChannel = options.perChannel ?? 0;
    this.#history = new History(limits);
    this.#lastSeq = stream.lastSeq;
  }

  get epoch(): string {
    return this.#stream.epoch;
  }

  /** The delivered watermark: the newest sequence fanned out. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  get position(): Position {
    return { epoch: this.epoch, seq: this.#lastSeq };
  }

  /** Bytes the stream takes in storage, when its engine says (the local log does). */
  get storedBytes(): number | undefined {
    return this.stored ? this.#stream.bytes : undefined;
  }

  /** Bytes of the in-memory history. */
  get memoryBytes(): number {
    return this.#history.bytes;
  }

  /** Oldest sequence that can still be replayed (from storage or memory). */
  get firstSeq(): number {
    if (this.stored) return this.#stream.firstSeq || this.#lastSeq + 1;
    return this.firstInMemory;
  }

  /** Oldest sequence memory holds (past the watermark when memory holds none). */
  get firstInMemory(): number {
    return this.#history.firstSeq ?? this.#lastSeq + 1;
  }

  /** Warms a stored namespace from its stream: per-channel tails, history, dedupe keys. */
  async restore(options: RestoreOptions): Promise<void> {
    const stream = this.#stream;
    if (this.#perChannel) {
      for await (const batch of stream.read(stream.firstSeq || 1)) {
        for (const m of batch) this.#trackChannel(m.channel, m.seq);
      }
    }
    for (const m of await stream.tail(options.tail)) this.#history.append(m);
    this.#newestTime = this.#history.newestFirst().next().value?.time ?? 0;
    for (const [key, m] of await stream.recentKeys(options.keysSince)) {
      this.#keys.set(key, { message: Promise.resolve(m), until: m.time + options.keyLifetimeMs });
    }
  }

  /**
   * Takes `time` as the newest message's time; false (and nothing changes) when `time` is
   * before the newest one or after `now`, except `time === now`, which is always taken.
   */
  advanceTime(time: number, now: number): boolean {
    if (time !== now && (time < this.#newestTime || time > now)) return false;
    this.#newestTime = time;
    return true;
  }

  /** The message first published with `key` within the dedupe window, if any. */
  duplicateOf(key: string, now: number): Promise<BusMessage> | undefined {
    this.#expireKeys(now);
    return this.#keys.get(key)?.message;
  }

  /**
   * Remembers `key` for `message` until `until` (ms), dropping the oldest key past `maxKeys`;
   * a publish that fails forgets its key.
   */
  rememberKey(key: string, message: Promise<BusMessage>, until: number, maxKeys?: number): void {
    this.#keys.set(key, { message, until });
    if (maxKeys && this.#keys.size > maxKeys) this.#keys.delete(this.#keys.keys().next().value!);
    message.catch(() => this.#keys.delete(key));
  }

  /**
   * Appends a run of messages to the stream in one call; each of `publishing` (one per message,
   * in order) waits for its message to be durable (see `settle`).
   */
  append(run: AppendRequest[], publishing: Publishing[]): void {
    for (const p of publishing) this.#publishing.push(p);
    this.#stream.append(run);
  }

  /**
   * The publish waiting for this durable message, if it was appended here (local appends come
   * back in the order they were made; anything else is another node's).
   */
  settle(message: BusMessage): Publishing | undefined {
    return this.#publishing.first()?.message.id === message.id
      ? this.#publishing.shift()
      : undefined;
  }

  /**
   * A shared engine found this append's dedupe key already stored (by another node): its
   * publish is answered with `message`, which carries the first one's position.
   */
  settleDuplicate(message: BusMessage): void {
    const waiting = this.#publishing.take((p) => p.message.id === message.id);
    waiting?.outcome.published(waiting.tag, { ...message, duplicate: true });
  }

  /**
   * The stream no longer continues what memory holds (see StreamListener.reset): memory is
   * dropped and the watermark is the stream's.
   */
  reset(): void {
    this.#history.clear();
    this.#channelTail.clear();
    this.#keys.clear();
    this.#lastSeq = this.#stream.lastSeq;
  }

  /** Fails the waiting publishes of these message ids with `error`. */
  fail(ids: string[], error: unknown): void {
    const failed = new Set(ids);
    for (const p of this.#publishing.takeAll((p) => failed.has(p.message.id))) {
      p.outcome.failed(p.tag, error, p.message.channel);
    }
  }

  /** The message is being fanned out: it moves the watermark and joins the history. */
  delivered(message: BusMessage): void {
    this.#lastSeq = message.seq;
    this.#trackChannel(message.channel, message.seq);
    this.#history.append(message);
    this.#cap?.delivered(message.channel, message.seq);
  }

  /**
   * Removes `channel`'s messages through `throughSeq`: readers skip them at once, and the stream
   * removes them from storage, one purge after the other (resolved once this one is done).
   */
  purgeChannel(channel: string, throughSeq: number): Promise<void> {
    this.purged(channel, throughSeq);
    // Purges of a channel coalesce while they wait: a cap trimming faster than the stream purges
    // queues one per channel, not one per trim.
    const waiting = this.#waitingPurges.get(channel);
    if (waiting) {
      waiting.through = Math.max(waiting.through, throughSeq);
      return waiting.done;
    }
    const purge = { through: throughSeq, done: Promise.resolve() };
    const run = () => {
      this.#waitingPurges.delete(channel);
      return this.#stream.purgeChannel(channel, purge.through);
    };
    this.#waitingPurges.set(channel, purge);
    return purge.done = this.#purging = this.#purging.then(run, run);
  }

  /** `channel` was purged through `throughSeq` (here, or by another node on a shared engine). */
  purged(channel: string, throughSeq: number): void {
    this.#purged.add(channel, throughSeq);
    this.#cap?.purged(channel, throughSeq);
  }

  /** True when the message was purged (see purgeChannel). */
  isPurged(channel: string, seq: number): boolean {
    return this.#purged.covers(channel, seq);
  }

  /** Counts every delivered message toward `cap`, which trims the channels that outgrow it. */
  useCap(cap: ChannelCap): void {
    this.#cap = cap;
  }

  /** True when memory holds every delivered message from `seq` on. */
  inMemory(seq: number): boolean {
    if (seq > this.#lastSeq) return true;
    const first = this.#history.firstSeq;
    return first !== undefined && first <= seq;
  }

  /** Delivered messages from `seq` on that memory holds (at most `max`), oldest first. */
  fromMemory(seq: number, max: number): BusMessage[] {
    return this.#history.after(seq - 1, this.#lastSeq, max) ?? [];
  }

  /** Stored messages from `seq` on, delivered or not, in batches (nothing without storage). */
  readStored(seq: number): AsyncIterable<BusMessage[]> {
    return this.#stream.read(seq);
  }

  /** readStored as stored records (their bytes, where the engine keeps them). */
  async *readRecords(seq: number): AsyncGenerator<StoredRecords> {
    const stream = this.#stream;
    if (stream.readRecords) return yield* stream.readRecords(seq);
    for await (const batch of stream.read(seq)) yield new MessageRecords(batch, stream.epoch);
  }

  /** The messages in memory, newest first. */
  newestFirst(): Iterable<BusMessage> {
    return this.#history.newestFirst();
  }

  /** Sequence of the first message at or after `time` (lastSeq + 1 when none). */
  seekTime(time: number): Promise<number> | number {
    if (this.stored) return this.#stream.seekTime(time);
    return this.#history.since(time)[0]?.seq ?? this.#lastSeq + 1;
  }

  /** False when the message is beyond its channel's limit (newer ones replaced it). */
  withinChannelLimit(channel: string, seq: number): boolean {
    const seqs = this.#channelTail.get(channel);
    return !seqs || seqs.length < this.#perChannel || seq >= seqs.first()!;
  }

  #trackChannel(channel: string, seq: number): void {
    if (!this.#perChannel) return;
    let seqs = this.#channelTail.get(channel);
    if (!seqs) this.#channelTail.set(channel, seqs = new Fifo());
    seqs.push(seq);
    if (seqs.length > this.#perChannel) seqs.shift();
  }

  /** Drops expired dedupe keys (the map stays bounded by the window). */
  #expireKeys(now: number): void {
    for (const [key, entry] of this.#keys) {
      if (entry.until > now) break; // insertion order = expiry order
      this.#keys.delete(key);
    }
  }
}
