/**
 * The listing index of LIST_INSTANCES. Every instance gets an ordinal when created (increasing,
 * never reused); each filter combination (all, by machine, by state, by machine and state) keeps
 * the ordinals of its instances in a sorted array. A page is then a slice of one array: stable
 * order (creation order), exact totals, no scan and no sort.
 *
 * Creations append (ordinals only grow); a state change moves one ordinal between two arrays by
 * binary search plus a splice, which is a memmove of the array: cheap up to millions of entries.
 */
export interface IndexedInstance {
  ordinal: number;
  id: string;
  machine: string;
  state: string;
}

export interface PageQuery {
  machine?: string;
  state?: string;
  offset: number;
  limit: number;
  /** Cursor: start after this ordinal instead of at `offset`. */
  afterOrdinal?: number;
}

export interface Page {
  ids: string[];
  total: number;
  hasMore: boolean;
  /** The ordinal of the last id returned (the cursor for the next page). */
  lastOrdinal?: number;
}

const keysOf = (machine: string, state: string) => [
  "",
  `m\u0000${machine}`,
  `s\u0000${state}`,
  `ms\u0000${machine}\u0000${state}`,
];

function lowerBound(list: number[], value: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class InstanceIndex {
  readonly #lists = new Map<string, number[]>();
  readonly #ids = new Map<number, string>();

  add(i: IndexedInstance): void {
    this.#ids.set(i.ordinal, i.id);
    for (const key of keysOf(i.machine, i.state)) this.#insert(key, i.ordinal);
  }

  clear(): void {
    this.#lists.clear();
    this.#ids.clear();
  }

  remove(i: IndexedInstance): void {
    this.#ids.delete(i.ordinal);
    for (const key of keysOf(i.machine, i.state)) this.#delete(key, i.ordinal);
  }

  /** Records that instance `i` (with its old state) is now in state `to`. */
  move(i: IndexedInstance, to: string): void {
    if (i.state === to) return;
    const [, , fromState, fromBoth] = keysOf(i.machine, i.state);
    const [, , toState, toBoth] = keysOf(i.machine, to);
    this.#delete(fromState, i.ordinal);
    this.#delete(fromBoth, i.ordinal);
    this.#insert(toState, i.ordinal);
    this.#insert(toBoth, i.ordinal);
  }

  page(q: PageQuery): Page {
    const key = q.machine !== undefined && q.state !== undefined
      ? keysOf(q.machine, q.state)[3]
      : q.machine !== undefined
      ? keysOf(q.machine, "")[1]
      : q.state !== undefined
      ? keysOf("", q.state)[2]
      : "";
    const list = this.#lists.get(key) ?? [];
    const start = q.afterOrdinal !== undefined
      ? lowerBound(list, q.afterOrdinal + 1)
      : Math.min(q.offset, list.length);
    const slice = list.slice(start, start + q.limit);
    return {
      ids: slice.map((o) => this.#ids.get(o)!),
      total: list.length,
      hasMore: start + slice.length < list.length,
      lastOrdinal: slice.at(-1),
    };
  }

  #insert(key: string, ordinal: number) {
    let list = this.#lists.get(key);
    if (!list) this.#lists.set(key, list = []);
    if (!list.length || list[list.length - 1] < ordinal) list.push(ordinal);
    else list.splice(lowerBound(list, ordinal), 0, ordinal);
  }

  #delete(key: string, ordinal: number) {
    const list = this.#lists.get(key);
    if (!list) return;
    const at = lowerBound(list, ordinal);
    if (list[at] === ordinal) list.splice(at, 1);
    if (!list.length) this.#lists.delete(key);
  }
}
