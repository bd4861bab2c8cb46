import type { Logger } from "../../core/logger.ts";
import type { PulsarState, PulsarStateBackend } from "./store-backend.ts";

/** The safety net for a lost change notice: the version is read this often. */
const POLL_MS = 1000;

export interface VersionedState {
  state: PulsarState;
  version: number;
}

/**
 * What the shared backends (PostgreSQL, Valkey) have in common: the state carries a version
 * bumped by every change; a change notice from another node (or a reconnect: Infinity, or the
 * poll) with a newer version reloads it and tells the store. This node's loads, changes and
 * reloads run one at a time, so a reload never lands between a change's read and its write.
 */
export abstract class SharedStateBackend implements PulsarStateBackend {
  readonly #log: Logger;
  #version = -1;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #listeners = new Set<(state: PulsarState) => void>();
  #poll?: ReturnType<typeof setInterval>;

  protected constructor(log: Logger) {
    this.#log = log;
  }

  /** The stored state and its version. */
  protected abstract read(): Promise<VersionedState>;
  /** The stored version alone (the poll's cheap read). */
  protected abstract readVersion(): Promise<number>;
  /**
   * Applies `change` to the newest stored state and stores `snapshot()` with the next version,
   * never over another node's change; announces it; resolves to the version stored.
   */
  protected abstract commit(
    change: (fresh: PulsarState) => Promise<void>,
    snapshot: () => PulsarState,
  ): Promise<number>;
  /** Closes the backend's connections. */
  protected abstract disconnect(): Promise<void>;

  /** Starts the version poll (once the backend is open). */
  protected startPolling(): void {
    this.#poll = setInterval(() => this.#checkVersion(), POLL_MS);
  }

  load(): Promise<PulsarState> {
    return this.#serial(async () => {
      const { state, version } = await this.read();
      this.#version = version;
      return state;
    });
  }

  update(
    change: (fresh: PulsarState | undefined) => Promise<void>,
    snapshot: () => PulsarState,
  ): Promise<void> {
    return this.#serial(async () => {
      this.#version = await this.commit(change, snapshot);
    });
  }

  onRemoteChange(listener: (state: PulsarState) => void): void {
    this.#listeners.add(listener);
  }

  /** Another node announced `version` (Infinity after a reconnect): reload if it is newer. */
  protected heard(version: number): void {
    if (version <= this.#version) return;
    this.#serial(async () => {
      const { state, version } = await this.read();
      if (version === this.#version) return;
      this.#version = version;
      for (const l of this.#listeners) l(state);
    }).catch((e) => this.#log("warn", "pulsar store reload failed", { error: String(e) }));
  }

  async #checkVersion(): Promise<void> {
    try {
      this.heard(await this.readVersion());
    } catch (e) {
      this.#log("warn", "pulsar store unreachable", { error: String(e) });
    }
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    clearInterval(this.#poll);
    await this.#queue;
    await this.disconnect();
  }
}
