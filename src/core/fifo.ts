/**
 * A first-in first-out queue whose `shift` is O(1) at any length. `Array.prototype.shift` is
 * O(n) once an array outgrows V8's regular heap pages (about 16k elements: its backing store then
 * sits in large-object space, which cannot be trimmed from the front), so draining a long array
 * one item at a time is quadratic: 200k items took 23 s, blocking the event loop.
 */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The oldest item, left in place. */
  first(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined; // let it go now, not at the next compaction
    if (this.#head === this.#items.length) this.#reset([]);
    // Copy the live part once the dead front is half of the array: amortized O(1) per item.
    else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#reset(this.#items.slice(this.#head));
    }
    return item;
  }

  /** The items, oldest first (left in place). */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }

  /** Removes and returns the oldest item that `test` accepts. */
  take(test: (item: T) => boolean): T | undefined {
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i] as T;
      if (!test(item)) continue;
      if (i === this.#head) return this.shift();
      this.#items.splice(i, 1);
      return item;
    }
  }

  /** Removes the items that `test` accepts and returns them, oldest first; the rest stay in order. */
  takeAll(test: (item: T) => boolean): T[] {
    const taken: T[] = [];
    const kept: T[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i] as T;
      (test(item) ? taken : kept).push(item);
    }
    this.#reset(kept);
    return taken;
  }

  #reset(items: (T | undefined)[]) {
    this.#items = items;
    this.#head = 0;
  }
}
