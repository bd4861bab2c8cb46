import type { LiveConnection, SessionRegistry } from "../../auth/live-connections.ts";
import type { PulsarStore } from "./store.ts";

/** A WebSocket of the door: whose it is, and how to bring it in line with the store. */
export interface PulsarLiveConnection extends LiveConnection {
  readonly userId: string;
  /** Re-derives what the connection may read from the store; ends what it no longer may. */
  reauthorize(): void;
}

/**
 * The door's open WebSockets, registered in the server's live-connection registry (token
 * expiry, shutdown) and indexed by user here: a change of users, topics or grants in the store
 * reauthorizes each of them, so a revoked grant or permission ends the subscriptions it
 * covered, and a deleted or deactivated user's connections close.
 */
export class PulsarLive {
  readonly #registry: Pick<SessionRegistry, "add" | "delete">;
  readonly #byUser = new Map<string, Set<PulsarLiveConnection>>();
  readonly #stop: () => void;

  constructor(registry: Pick<SessionRegistry, "add" | "delete">, store: PulsarStore) {
    this.#registry = registry;
    this.#stop = store.onChange(() => {
      for (const set of [...this.#byUser.values()]) {
        for (const c of [...set]) c.reauthorize();
      }
    });
  }

  add(c: PulsarLiveConnection): void {
    let set = this.#byUser.get(c.userId);
    if (!set) this.#byUser.set(c.userId, set = new Set());
    set.add(c);
    this.#registry.add(c);
  }

  delete(c: PulsarLiveConnection): void {
    const set = this.#byUser.get(c.userId);
    if (set?.delete(c) && set.size === 0) this.#byUser.delete(c.userId);
    this.#registry.delete(c);
  }

  /** Open connections of one user. */
  count(userId: string): number {
    return this.#byUser.get(userId)?.size ?? 0;
  }

  get size(): number {
    let n = 0;
    for (const set of this.#byUser.values()) n += set.size;
    return n;
  }

  closeAll(): void {
    this.#stop();
    for (const set of [...this.#byUser.values()]) for (const c of [...set]) c.close();
  }
}
