/**
 * Where one namespace lives in Valkey. Every key of a namespace carries the same hash tag (the
 * part in braces), so a Redis Cluster keeps them in one slot and one script may touch them all.
 * The name is URI-encoded, so a brace in it cannot end the tag early.
 */
export class NamespaceKeys {
  /** Hash: e = epoch, b = last sequence before the epoch began, s = top sequence, t = newest time. */
  readonly meta: string;
  /** Stream: one entry per message, id `<seq>-0`, fields t (time) and d (the stored message). */
  readonly stream: string;
  /** Pub/sub channel the append script publishes every stored batch on (and PURGE its notice). */
  readonly live: string;
  /** Hash: channel → the sequence its entries are deleted through (scripts.ts PURGE). */
  readonly purges: string;
  readonly #dedupe: string;

  constructor(prefix: string, name: string) {
    const tagged = `${prefix}{${encodeURIComponent(name)}}`;
    this.meta = `${tagged}:meta`;
    this.stream = `${tagged}:stream`;
    this.live = `${tagged}:live`;
    this.purges = `${tagged}:purges`;
    this.#dedupe = `${tagged}:key:`;
  }

  /** The key that holds a dedupe key's first sequence for the dedupe window. */
  dedupe(key: string): string {
    return this.#dedupe + key;
  }
}

/** The set of every namespace's name (one key, outside any namespace's slot). */
export const namespacesKey = (prefix: string) => `${prefix}namespaces`;
/** The channel a node announces a namespace it created on. */
export const createdChannel = (prefix: string) => `${prefix}namespaces:created`;
