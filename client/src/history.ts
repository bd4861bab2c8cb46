import type { HistoryResultMeta } from "../shared/messages.ts";
import type { ReceivedMessage } from "./message-stream.ts";

export interface HistoryOptions {
  /** At most this many messages (default and cap: the server's `--max-history-limit`, 1000). */
  limit?: number;
  /** Only messages with a lower seq: pass the previous page's `next` for the page before it. */
  before?: number;
  /** Rejects with the signal's reason when aborted. */
  signal?: AbortSignal;
}

/** A page of a channel's history, oldest first. */
export interface HistoryPage<T = unknown> {
  messages: ReceivedMessage<T>[];
  /** The namespace's epoch: the messages' seqs count in it. */
  epoch: string;
  /**
   * Pass as `before` for the next older page; undefined once the oldest stored message was
   * reached (a page may hold fewer than `limit` messages and still have a `next`).
   */
  next?: number;
}

/** The page from the message frames that came with the request and the ok that ended them. */
export function historyPage<T>(
  messages: ReceivedMessage<T>[],
  result: HistoryResultMeta,
): HistoryPage<T> {
  const page: HistoryPage<T> = { messages, epoch: result.epoch };
  if (result.next !== undefined) page.next = result.next;
  return page;
}
