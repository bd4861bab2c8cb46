import type { BusMessage } from "./message.ts";

/** Per-message storage options a publisher may set. */
export interface StoreOptions {
  /** Deduplication key: a repeat within the window is not stored again. */
  key?: string;
  /** ms since the epoch after which the message is no longer delivered; 0 = never. */
  expiresAt?: number;
}

/**
 * One namespace's stream in an engine: what the hub needs from it, so the core stays free of
 * storage code.
 */
export interface EngineStream {
  readonly epoch: string;
  /** Oldest retained sequence (0 when empty). */
  readonly firstSeq: number;
  /** Newest stored sequence (0 when empty). */
  readonly lastSeq: number;
  /** Resolves once the message is durable under the fsync policy. */
  append(message: BusMessage, options: StoreOptions): Promise<void>;
  /** Stored messages with seq ≥ `fromSeq` (expired ones too), oldest first, in batches. */
  read(fromSeq: number): AsyncIterable<BusMessage[]>;
  /** Sequence of the first message at or after `time` (lastSeq + 1 when none). */
  seekTime(time: number): Promise<number>;
  /** The newest `n` messages, oldest first (to warm the in-memory cache on start). */
  tail(n: number): Promise<BusMessage[]>;
  /** Dedupe keys of messages stored since `since` (ms), with their messages. */
  recentKeys(since: number): Promise<Map<string, BusMessage>>;
}

/**
 * The stream engine behind the hub: it owns storage, retention and what survives a restart of
 * every namespace's stream. The local log (src/streams/) is the first implementation; the
 * contract every engine meets is test/contracts/stream-engine.ts.
 */
export interface StreamEngine {
  /** Names of the namespaces already stored. */
  list(): Promise<string[]>;
  /** Opens (creating if needed) a namespace's stream. */
  open(name: string): Promise<EngineStream>;
  /** Drops what the retention limits no longer keep (the hub calls it periodically). */
  applyRetention(): Promise<void>;
  close(): Promise<void>;
}
