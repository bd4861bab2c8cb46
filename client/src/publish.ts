import { Flag } from "../shared/frame.ts";
import type { PublishedMeta } from "../shared/messages.ts";

const encoder = new TextEncoder();

export interface PublishOptions {
  headers?: Record<string, string>;
  /**
   * Deduplication key: publishing the same key again within the server's window (2 min by
   * default) stores nothing and resolves with the first message's position (`duplicate: true`).
   * Use it to retry safely after a lost connection.
   */
  key?: string;
  /** Time to live in ms: the message is not delivered or replayed after that. */
  ttl?: number;
  /**
   * Resolve only after this many durable-consumer acks of the message (server-side); rejects
   * with `timeout` after `confirmTimeout` ms (default 5000) — the message stays stored.
   */
  confirm?: number;
  confirmTimeout?: number;
}

/** Where a published message was stored: its namespace position, id and time. */
export type PublishResult = PublishedMeta;

/** A publish frame's meta, data and flags: JSON, or raw bytes when `payload` is a Uint8Array. */
export function publishFrame(channel: string, payload: unknown, options: PublishOptions) {
  const binary = payload instanceof Uint8Array;
  const data = binary ? payload : encoder.encode(JSON.stringify(payload ?? null));
  return { meta: { channel, ...options }, data, flags: binary ? Flag.Binary : 0 };
}
