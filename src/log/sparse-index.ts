/**
 * A segment's sparse index — one (seq, offset, time) entry per `indexEvery` bytes — packed into
 * one growing Float64Array instead of an object per entry. Every segment the retention keeps has
 * its index in memory, so the index grows with the log: at the default 4 KiB, a day of 2 MB/s is
 * 42M entries, and as objects each of them was marked by every full collection of a long-lived
 * server. Packed, it is 24 bytes an entry and nothing for the collector to walk.
 */
export class SparseIndex {
  /** Triples: seq, offset, time. */
  #values: Float64Array<ArrayBufferLike>;
  #length = 0;

  constructor(values: Float64Array<ArrayBufferLike> = new Float64Array(3 * 16), length = 0) {
    this.#values = values;
    this.#length = length;
  }

  /** An index of `values` (as `values()` gave them), without a copy. */
  static of(values: Float64Array<ArrayBufferLike>): SparseIndex {
    return new SparseIndex(values, values.length / 3);
  }

  get length(): number {
    return this.#length;
  }

  /** Offset of the newest entry, or -Infinity when there is none. */
  get lastOffset(): number {
    return this.#length ? this.#values[this.#length * 3 - 2] : -Infinity;
  }

  push(seq: number, offset: number, time: number): void {
    if (this.#length * 3 === this.#values.length) {
      const grown = new Float64Array(Math.max(3 * 16, this.#values.length * 2));
      grown.set(this.#values);
      this.#values = grown;
    }
    const at = this.#length++ * 3;
    this.#values[at] = seq;
    this.#values[at + 1] = offset;
    this.#values[at + 2] = time;
  }

  /** The entries as triples (seq, offset, time), a view: for the index file. */
  values(): Float64Array<ArrayBufferLike> {
    return this.#values.subarray(0, this.#length * 3);
  }

  /** Offset of the last entry at or before `seq` (entries are sorted by seq). */
  floorBySeq(seq: number): number | undefined {
    return this.#floor(0, (v) => v <= seq);
  }

  /** Offset of the last entry whose time is before `time` (times never decrease). */
  floorByTime(time: number): number | undefined {
    return this.#floor(2, (v) => v < time);
  }

  /** Offset of the last entry whose field (0 seq, 2 time) passes `before`. */
  #floor(field: number, before: (value: number) => boolean): number | undefined {
    const v = this.#values;
    let lo = 0, hi = this.#length - 1, found: number | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (before(v[mid * 3 + field])) {
        found = v[mid * 3 + 1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}
