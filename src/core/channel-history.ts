import { matcherFor } from "../../client/shared/subject.ts";
import type { BusMessage } from "./message.ts";
import type { Namespace } from "./namespace.ts";
import { StreamReader } from "./stream-reader.ts";

export interface HistoryQuery {
  /** A channel, or a pattern within the namespace. */
  pattern: string;
  limit: number;
  /** Only messages with a lower seq (default: everything delivered). */
  before?: number;
  /** Sequences looked at, at most, before answering with what was found. */
  maxScan: number;
}

export interface HistoryPage {
  /** Oldest first: the newest `limit` matches before `before`. */
  messages: BusMessage[];
  /** Where an older page would start (`before`); undefined when the stream's start was reached. */
  next?: number;
}

/** The first window looked at below `before`; each next window is twice as wide. */
const FIRST_WINDOW = 64;

/**
 * The newest messages of a channel, read backwards in widening windows of sequences: the log
 * reads forwards only, so each window is read forwards from its start and the windows stack up
 * from `before` down. A sparse channel costs at most `maxScan` sequences per page; the page then
 * says where to go on (`next`).
 */
export async function channelHistory(
  ns: Namespace,
  query: HistoryQuery,
): Promise<HistoryPage> {
  const reader = new StreamReader(ns, { channel: matcherFor(query.pattern) });
  const limit = query.limit;
  let hi = Math.min(query.before ?? Infinity, ns.lastSeq + 1);
  let window = Math.max(limit, FIRST_WINDOW);
  let scanned = 0;
  let found = 0;
  const windows: BusMessage[][] = [];
  while (hi > ns.firstSeq && found < limit && scanned < query.maxScan) {
    const lo = Math.max(
      ns.firstSeq,
      hi - window,
      hi - (query.maxScan - scanned),
    );
    const part = await readRange(reader, ns, lo, hi, limit - found);
    windows.unshift(part);
    found += part.length;
    scanned += hi - lo;
    hi = lo;
    window *= 2;
  }
  const messages = windows.flat().slice(-limit);
  if (messages.length === limit) {
    return {
      messages,
      next: messages[0].seq > ns.firstSeq ? messages[0].seq : undefined,
    };
  }
  return { messages, next: hi > ns.firstSeq ? hi : undefined };
}

/**
 * The newest `keep` wanted messages with `lo <= seq < hi`, from memory or storage; older ones are
 * let go chunk by chunk, so a wide window of a busy channel holds no more than a page.
 */
async function readRange(
  reader: StreamReader,
  ns: Namespace,
  lo: number,
  hi: number,
  keep: number,
): Promise<BusMessage[]> {
  let out: BusMessage[] = [];
  let seq = lo;
  while (seq < hi) {
    const chunk = await reader.read(seq);
    if (!chunk) {
      // A memory-only namespace evicted these: go on from what memory still holds.
      if (ns.firstInMemory <= seq) break;
      seq = ns.firstInMemory;
      continue;
    }
    if (chunk.next <= seq) break;
    for (const m of chunk.messages) if (m.seq < hi) out.push(m);
    if (out.length > keep) out = out.slice(out.length - keep);
    seq = chunk.next;
  }
  return out;
}
