import { matches, parsePattern } from "./subject.ts";

/**
 * A token trie of subscription patterns, after nats-server's sublist: each level has literal
 * children plus a `*` slot and a `>` slot, so a lookup walks at most (tokens × 2) branches
 * instead of scanning every subscription.
 *
 * Lookups go through a bounded cache of results keyed by the literal channel: a hit is one Map
 * lookup (no recency bookkeeping; when full, the oldest entry goes). Insert and remove patch the
 * cached results that the pattern matches instead of flushing the cache, so a steady stream of
 * subscribes does not make every publish miss; a literal pattern matches only the channel of its
 * own name, so it patches that one entry without looking at the others (nats-server's sublist
 * fast path).
 *
 * Before changing this file run `deno bench bench/matcher_bench.ts`.
 */
interface TrieNode<T> {
  literal: Map<string, TrieNode<T>>;
  star?: TrieNode<T>;
  /** Values whose pattern ends at this node. */
  here: Set<T>;
  /** Values whose pattern ends with `>` at this level. */
  rest: Set<T>;
}

const newNode = <T>(): TrieNode<T> => ({
  literal: new Map(),
  here: new Set(),
  rest: new Set(),
});

export interface SubjectTrieOptions {
  /** Maximum number of cached lookups; 0 disables the cache. */
  cacheSize?: number;
}

const EMPTY: readonly never[] = Object.freeze([]);

export class SubjectTrie<T> {
  #root: TrieNode<T> = newNode();
  #cache = new Map<string, readonly T[]>();
  #cacheSize: number;
  #count = 0;

  constructor(options: SubjectTrieOptions = {}) {
    this.#cacheSize = options.cacheSize ?? 4096;
  }

  /** Number of (pattern, value) pairs stored. */
  get size(): number {
    return this.#count;
  }

  /** Adds `value` under `pattern`; returns false when that pair was already present. */
  insert(pattern: string, value: T): boolean {
    const tokens = parsePattern(pattern);
    let node = this.#root;
    const last = tokens.length - 1;
    for (let i = 0; i < last; i++) node = this.#child(node, tokens[i]);
    let set: Set<T>;
    if (tokens[last] === ">") set = node.rest;
    else {
      node = this.#child(node, tokens[last]);
      set = node.here;
    }
    if (set.has(value)) return false;
    set.add(value);
    this.#count++;
    this.#patchCache(pattern, (list) => [...list, value]);
    return true;
  }

  /** Removes the pair; returns false when it was not present. */
  remove(pattern: string, value: T): boolean {
    const tokens = pattern.split(".");
    const path: TrieNode<T>[] = [this.#root];
    let node: TrieNode<T> | undefined = this.#root;
    const last = tokens.length - 1;
    for (let i = 0; i < tokens.length && node; i++) {
      if (i === last && tokens[i] === ">") break;
      node = tokens[i] === "*" ? node.star : node.literal.get(tokens[i]);
      if (node) path.push(node);
    }
    if (!node) return false;
    const set = tokens[last] === ">" ? node.rest : node.here;
    if (!set.delete(value)) return false;
    this.#count--;
    this.#prune(path, tokens);
    this.#patchCache(pattern, (list) => {
      const i = list.indexOf(value);
      return i === -1 ? list : [...list.slice(0, i), ...list.slice(i + 1)];
    });
    return true;
  }

  /**
   * Every value whose pattern matches the concrete `channel`. A value stored under two matching
   * patterns appears twice; callers that deliver once per value de-duplicate.
   * The returned array is shared with the cache: do not mutate it.
   */
  match(channel: string): readonly T[] {
    const cached = this.#cache.get(channel);
    if (cached !== undefined) return cached;
    const out: T[] = [];
    const tokens = channel.split(".");
    // `$`-namespaces are only reachable through a literal first token.
    this.#collect(this.#root, tokens, 0, out, tokens[0].startsWith("$"));
    const result = out.length === 0 ? EMPTY : out;
    if (this.#cacheSize > 0) {
      if (this.#cache.size >= this.#cacheSize) {
        this.#cache.delete(this.#cache.keys().next().value!);
      }
      this.#cache.set(channel, result);
    }
    return result;
  }

  #collect(
    node: TrieNode<T>,
    tokens: string[],
    i: number,
    out: T[],
    literalOnly: boolean,
  ) {
    if (i === tokens.length) {
      for (const v of node.here) out.push(v);
      return;
    }
    // `>` needs at least one more token, which exists here since i < tokens.length.
    if (!literalOnly) { for (const v of node.rest) out.push(v); }
    const lit = node.literal.get(tokens[i]);
    if (lit) this.#collect(lit, tokens, i + 1, out, false);
    if (node.star && !literalOnly) {
      this.#collect(node.star, tokens, i + 1, out, false);
    }
  }

  #child(node: TrieNode<T>, token: string): TrieNode<T> {
    if (token === "*") return node.star ??= newNode();
    let next = node.literal.get(token);
    if (!next) node.literal.set(token, next = newNode());
    return next;
  }

  /** Drops now-empty nodes bottom-up so removed patterns do not leak memory. */
  #prune(path: TrieNode<T>[], tokens: string[]) {
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i];
      if (n.here.size || n.rest.size || n.literal.size || n.star) return;
      const parent = path[i - 1];
      const token = tokens[i - 1];
      if (token === "*") parent.star = undefined;
      else parent.literal.delete(token);
    }
  }

  #patchCache(pattern: string, update: (list: readonly T[]) => readonly T[]) {
    if (!pattern.includes("*") && !pattern.includes(">")) {
      const list = this.#cache.get(pattern);
      if (list !== undefined) this.#cache.set(pattern, update(list));
      return;
    }
    for (const [channel, list] of this.#cache) {
      if (matches(pattern, channel)) this.#cache.set(channel, update(list));
    }
  }
}
