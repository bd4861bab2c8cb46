import type { CatbusClient } from "../../client/mod.ts";

interface Entry<L> {
  users: Set<L>;
  stop: () => void;
  release?: ReturnType<typeof setTimeout>;
}

/**
 * What hooks of one client share, by key: the first user opens it, the others add a listener,
 * and it ends a tick after the last one left. Reference counting makes several components on
 * one channel cost one subscription, and the delay makes StrictMode's unmount–remount keep it
 * instead of unsubscribing and subscribing again.
 */
export class Shared<L> {
  readonly #entries = new Map<string, Entry<L>>();

  /**
   * Adds `user` to the entry of `key`, opening it with `open` (which gets the live set of
   * users) when there is none; returns the function that removes the user.
   */
  use(key: string, user: L, open: (users: ReadonlySet<L>) => () => void): () => void {
    let entry = this.#entries.get(key);
    if (entry) clearTimeout(entry.release);
    else {
      const users = new Set<L>();
      entry = { users, stop: open(users) };
      this.#entries.set(key, entry);
    }
    const used = entry;
    used.users.add(user);
    return () => {
      used.users.delete(user);
      if (used.users.size > 0) return;
      clearTimeout(used.release);
      used.release = setTimeout(() => {
        if (used.users.size > 0 || this.#entries.get(key) !== used) return;
        this.#entries.delete(key);
        used.stop();
      }, 0);
    };
  }
}

const byClient = new WeakMap<CatbusClient, Map<string, Shared<unknown>>>();

/** The `kind` of shared things of `client` (e.g. "presence"). */
export function sharedOf<L>(client: CatbusClient, kind: string): Shared<L> {
  let kinds = byClient.get(client);
  if (!kinds) byClient.set(client, kinds = new Map());
  let shared = kinds.get(kind);
  if (!shared) kinds.set(kind, shared = new Shared<unknown>());
  return shared as Shared<L>;
}
