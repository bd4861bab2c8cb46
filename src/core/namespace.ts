import { History, type HistoryLimits } from "./history.ts";
import type { BusMessage } from "./message.ts";
import type { EngineStream } from "./stream-engine.ts";
import type { Position } from "../../client/shared/messages.ts";

/** A publish waiting for its message to be durable (see Broker.publish). */
export interface Publishing {
  /** The message's id. */
  id: string;
  /** Set once the publisher waits (the stream did not answer within its append call). */
  resolve?(message: BusMessage | Promise<BusMessage>): void;
  reject?(error: unknown): void;
  /** The answer, when the stream gave it before anyone waited. */
  answer?: Promise<BusMessage>;
  /** Consumer acks to wait for, for how long (ms), counted from when (ms). */
  confirm?: { count: number; timeoutMs: number; since: number };
}

/**
 * One namespace: its stream position, the in-memory tail (hot cache of the log, or the only
 * history without storage) and the dedupe window.
 */
export class Namespace {
  readonly name: string;
  /** The namespace's stream in the engine (or in memory): it numbers and stores messages. */
  readonly stream: EngineStream;
  /** The stream, when it stores messages (a memory stream keeps none). */
  readonly storage?: EngineStream;
  /** Highest sequence delivered to subscribers: the position new subscriptions start from. */
  lastSeq: number;
  /** Time of the newest message handed out (ms): times never go backwards in a namespace. */
  newestTime = 0;
  readonly history: History;
  /** Dedupe keys → the message first published with them, and when the key expires. */
  readonly keys = new Map<string, { message: Promise<BusMessage>; until: number }>();
  /** Publishes appended and not yet durable, in append order. */
  publishing: Publishing[] = [];

  /** Replay at most this many newest messages per channel (0 = no limit). */
  readonly #perChannel: number;

  constructor(
    name: string,
    limits: HistoryLimits,
    stream: EngineStream,
    options: { stored: boolean; perChannel?: number },
  ) {
    this.name = name;
    this.stream = stream;
    if (options.stored) this.storage = stream;
    this.#perChannel = options.perChannel ?? 0;
    this.history = new History(limits);
    this.lastSeq = stream.lastSeq;
  }

  get epoch(): string {
    return this.stream.epoch;
  }

  get position(): Position {
    return { epoch: this.epoch, seq: this.lastSeq };
  }

  /** Oldest sequence that can still be replayed (from storage or memory). */
  get firstSeq(): number {
    if (this.storage) return this.storage.firstSeq || this.lastSeq + 1;
    return this.history.firstSeq ?? this.lastSeq + 1;
  }

  /**
   * With a per-channel limit: the newest sequences of each channel (at most the limit), so
   * readers skip messages that have more than `limit` newer ones on their channel.
   */
  readonly #channelTail = new Map<string, number[]>();

  /** Records a delivered message for the per-channel limit. */
  trackChannel(channel: string, seq: number): void {
    if (!this.#perChannel) return;
    let seqs = this.#channelTail.get(channel);
    if (!seqs) this.#channelTail.set(channel, seqs = []);
    seqs.push(seq);
    if (seqs.length > this.#perChannel) seqs.shift();
  }

  /** False when the message is beyond its channel's limit (newer ones replaced it). */
  withinChannelLimit(channel: string, seq: number): boolean {
    const seqs = this.#channelTail.get(channel);
    return !seqs || seqs.length < this.#perChannel || seq >= seqs[0];
  }

  /** Drops expired dedupe keys (called on publish; the map stays bounded by the window). */
  expireKeys(now: number): void {
    for (const [key, entry] of this.keys) {
      if (entry.until > now) break; // insertion order = expiry order
      this.keys.delete(key);
    }
  }
}
