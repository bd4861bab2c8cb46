import type { BusMessage } from "./message.ts";
import type { StoredRecords } from "./stored-records.ts";

/** Per-message storage options a publisher may set. */
export interface StoreOptions {
  /** Deduplication key: a repeat within the window is not stored again. */
  key?: string;
  /** ms since the epoch after which the message is no longer delivered; 0 = never. */
  expiresAt?: number;
}

/** One message to append. The engine gives `message` its position: it sets `epoch` and `seq`. */
export interface AppendRequest {
  message: BusMessage;
  key?: string;
}

/** What a stream tells the hub, in sequence order. */
export interface StreamListener {
  /**
   * These messages, with their positions, are durable under the engine's policy: the durable
   * watermark moved to the last one. Appended here or — a shared engine — by another node; the
   * hub fans them out in this order.
   */
  durable(messages: BusMessage[]): void;
  /** These appends (by message id) failed: none is stored, and their sequences are given again. */
  failed(ids: string[], error: unknown): void;
  /**
   * A shared engine found this append's dedupe key already stored (by another node): nothing is
   * stored; `message` carries the first one's position.
   */
  duplicate?(message: BusMessage): void;
  /**
   * A shared engine's stream no longer continues what the hub holds (the engine lost data and
   * started a new epoch, or messages this node never saw are gone): the hub drops its in-memory
   * copy and goes on from the stream's `lastSeq`.
   */
  reset?(): void;
  /**
   * A shared engine: another node purged `channel` through `throughSeq` (see
   * EngineStream.purgeChannel); the hub stops serving those messages from its memory too.
   */
  purged?(channel: string, throughSeq: number): void;
}

/**
 * One namespace's stream in an engine: the one sequence authority for it (it numbers appends in
 * batches) and its storage; what the hub needs, so the core stays free of storage code.
 */
export interface EngineStream {
  readonly epoch: string;
  /** Oldest retained sequence (0 when empty). */
  readonly firstSeq: number;
  /** The durable watermark: the newest sequence handed to `durable` (0 when empty). */
  readonly lastSeq: number;
  /** Bytes the stream takes in its storage (the local log's segments); absent when unknown. */
  readonly bytes?: number;
  /**
   * Positions the batch, in order, and stores it; the listener hears when each message is
   * durable (or failed), appends made here in the order they were made. May call the listener
   * before it returns (an engine that keeps nothing).
   */
  append(batch: AppendRequest[]): void;
  /** Stored messages with seq ≥ `fromSeq` (expired ones too), oldest first, in batches. */
  read(fromSeq: number): AsyncIterable<BusMessage[]>;
  /**
   * `read` as the stored records themselves, for replays that copy them into delivery frames
   * (see StoredRecords); an engine without it is read through `read`.
   */
  readRecords?(fromSeq: number): AsyncIterable<StoredRecords>;
  /** Sequence of the first message at or after `time` (lastSeq + 1 when none). */
  seekTime(time: number): Promise<number>;
  /** The newest `n` messages, oldest first (to warm the in-memory cache on start). */
  tail(n: number): Promise<BusMessage[]>;
  /** Dedupe keys of messages stored since `since` (ms), with their messages. */
  recentKeys(since: number): Promise<Map<string, BusMessage>>;
  /**
   * Removes the stored messages of one channel with seq ≤ `throughSeq` (a deleted topic, a
   * per-channel cap); once it resolves no read, tail or restart returns them — another node's
   * neither. Positions go on and `firstSeq` stays where retention put it, so a resume of another
   * channel is still recovered; a reader of this channel finds a gap and goes on after it.
   */
  purgeChannel(channel: string, throughSeq: number): Promise<void>;
  /**
   * The hub holds the namespace now: a shared engine starts handing the listener every message
   * after `lastSeq`, other nodes' included (none is handed over before).
   */
  follow?(): void;
}

/**
 * The stream engine behind the hub: it owns sequencing, storage, retention and what survives a
 * restart of every namespace's stream. The local log (src/streams/) is the first implementation;
 * the contract every engine meets is test/contracts/stream-engine.ts.
 */
export interface StreamEngine {
  /** Names of the namespaces already stored. */
  list(): Promise<string[]>;
  /** Opens (creating if needed) a namespace's stream; `listener` hears of its messages. */
  open(name: string, listener: StreamListener): Promise<EngineStream>;
  /** Drops what the retention limits no longer keep (the hub calls it periodically). */
  applyRetention(): Promise<void>;
  /** A shared engine: false while it cannot be reached (publishes then fail with `unavailable`). */
  available?(): boolean;
  /** A shared engine: tells of namespaces created later (by any node). */
  watchList?(created: (name: string) => void): void;
  close(): Promise<void>;
}
