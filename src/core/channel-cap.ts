import type { BusMessage } from "./message.ts";

/** What one channel's count keeps. */
interface ChannelCount {
  /** Messages stored since the channel's last trim. */
  count: number;
  /** Sequences of its messages number step, 2·step, …: where the next trims end. */
  marks: number[];
  /** Sequence of the newest message counted. */
  newest: number;
}

/**
 * Keeps each channel of a namespace to about its newest `max` messages (what Valkey's
 * `MAXLEN ~` does to a stream): a channel that reaches `max + step` messages is purged through
 * its oldest `step` ones (step = 1% of max, at least 1), so a trim is one purge per `step`
 * messages, never a scan per publish, and a channel holds between `max` and `max + step − 1`
 * between trims. Per channel it keeps a count and every step-th sequence — at most ~100 numbers.
 * Messages must be counted in sequence order, each once.
 */
export class ChannelCap {
  readonly max: number;
  readonly #step: number;
  readonly #trim: (channel: string, throughSeq: number) => void;
  readonly #channels = new Map<string, ChannelCount>();
  /** Live messages heard while the stored ones are counted, in order. */
  #queued?: [string, number][] = [];
  /** The newest sequence counted: a message heard twice (stored, then live) counts once. */
  #counted = 0;

  constructor(max: number, trim: (channel: string, throughSeq: number) => void) {
    this.max = max;
    this.#step = Math.max(1, Math.ceil(max / 100));
    this.#trim = trim;
  }

  /**
   * Counts what the namespace stores (read in order, from its first message), then what was
   * heard live meanwhile; live messages count at once from then on.
   */
  async countStored(stored: AsyncIterable<BusMessage[]>): Promise<void> {
    try {
      for await (const batch of stored) for (const m of batch) this.#count(m.channel, m.seq);
    } finally {
      const queued = this.#queued ?? [];
      this.#queued = undefined;
      for (const [channel, seq] of queued) this.#count(channel, seq);
    }
  }

  /** A message of the namespace was delivered. */
  delivered(channel: string, seq: number): void {
    if (this.#queued) this.#queued.push([channel, seq]);
    else this.#count(channel, seq);
  }

  /** A purge that reaches the newest message counted leaves the channel nothing to count. */
  purged(channel: string, throughSeq: number): void {
    const count = this.#channels.get(channel);
    if (count && throughSeq >= count.newest) this.#channels.delete(channel);
  }

  #count(channel: string, seq: number): void {
    if (seq <= this.#counted) return;
    this.#counted = seq;
    let c = this.#channels.get(channel);
    if (!c) this.#channels.set(channel, c = { count: 0, marks: [], newest: 0 });
    c.count++;
    c.newest = seq;
    if (c.count % this.#step === 0) c.marks.push(seq);
    if (c.count < this.max + this.#step) return;
    // Marks stay aligned: dropping `step` messages keeps every mark at a multiple of `step`.
    c.count -= this.#step;
    this.#trim(channel, c.marks.shift()!);
  }
}
