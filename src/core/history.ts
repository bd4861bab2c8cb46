import { type BusMessage, messageBytes } from "./message.ts";

export interface HistoryLimits {
  /** Most messages kept per namespace. */
  maxMessages: number;
  /** Most bytes kept per namespace (payload plus a fixed per-message overhead). */
  maxBytes: number;
}

/**
 * The bounded in-memory tail of one namespace's stream: a ring buffer of the newest messages,
 * evicting the oldest when either limit is reached. Sequence numbers are contiguous, so the
 * message with seq `s` sits at offset `s - firstSeq` from the head.
 */
export class History {
  #ring: (BusMessage | undefined)[];
  #head = 0;
  #length = 0;
  #bytes = 0;
  readonly #limits: HistoryLimits;

  constructor(limits: HistoryLimits) {
    this.#limits = limits;
    this.#ring = new Array(Math.max(1, Math.min(limits.maxMessages, 1024)));
  }

  get length(): number {
    return this.#length;
  }

  /** Bytes held (as `maxBytes` counts them). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Sequence of the oldest retained message, or undefined when empty. */
  get firstSeq(): number | undefined {
    return this.#length ? this.#at(0).seq : undefined;
  }

  append(message: BusMessage): void {
    if (this.#limits.maxMessages <= 0) return;
    if (
      this.#length === this.#ring.length &&
      this.#length < this.#limits.maxMessages
    ) this.#grow();
    if (this.#length === this.#ring.length) this.#evict();
    this.#ring[(this.#head + this.#length) % this.#ring.length] = message;
    this.#length++;
    this.#bytes += messageBytes(message);
    while (this.#bytes > this.#limits.maxBytes && this.#length > 1) {
      this.#evict();
    }
  }

  /**
   * Messages with seq > `afterSeq` (at most `max`), oldest first, or undefined when some of them
   * were already evicted (the caller must then report `recovered: false`, never replay a partial
   * gap).
   */
  after(afterSeq: number, lastSeq: number, max = Infinity): BusMessage[] | undefined {
    if (afterSeq >= lastSeq) return [];
    const first = this.firstSeq;
    if (first === undefined || first > afterSeq + 1) return undefined;
    const out: BusMessage[] = [];
    const end = Math.min(this.#length, afterSeq + 1 - first + max);
    for (let i = afterSeq + 1 - first; i < end; i++) {
      out.push(this.#at(i));
    }
    return out;
  }

  /** Forgets every retained message. */
  clear(): void {
    this.#ring = new Array(this.#ring.length);
    this.#head = this.#length = this.#bytes = 0;
  }

  /** All retained messages, oldest first. */
  all(): BusMessage[] {
    const out: BusMessage[] = [];
    for (let i = 0; i < this.#length; i++) out.push(this.#at(i));
    return out;
  }

  /** Retained messages from the first one at or after `time`, oldest first. */
  since(time: number): BusMessage[] {
    let lo = 0, hi = this.#length;
    while (lo < hi) { // times are non-decreasing in publish order
      const mid = (lo + hi) >> 1;
      if (this.#at(mid).time < time) lo = mid + 1;
      else hi = mid;
    }
    const out: BusMessage[] = [];
    for (let i = lo; i < this.#length; i++) out.push(this.#at(i));
    return out;
  }

  /** Newest first, for "last message matching" lookups. */
  *newestFirst(): Generator<BusMessage> {
    for (let i = this.#length - 1; i >= 0; i--) yield this.#at(i);
  }

  #at(i: number): BusMessage {
    return this.#ring[(this.#head + i) % this.#ring.length]!;
  }

  #evict() {
    const m = this.#ring[this.#head]!;
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#length--;
    this.#bytes -= messageBytes(m);
  }

  /** The ring starts small and doubles up to maxMessages, so idle namespaces stay cheap. */
  #grow() {
    const next = new Array(
      Math.min(this.#ring.length * 2, this.#limits.maxMessages),
    );
    for (let i = 0; i < this.#length; i++) next[i] = this.#at(i);
    this.#ring = next;
    this.#head = 0;
  }
}
