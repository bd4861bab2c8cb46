import type { Logger } from "../../core/logger.ts";
import type { PulsarRecords } from "./records.ts";
import type { Guard, RecordChange, RecordKind } from "./record-types.ts";
import type { PulsarStateBackend, RemoteListener } from "./store-backend.ts";

/**
 * What the shared backends (PostgreSQL, Valkey) have in common. Each stored change is announced
 * with the record it touched, `[origin, kind, key]` as JSON; the other nodes reload just that
 * record, and after a lost connection (notices lost meanwhile) everything. This node's loads,
 * writes and reloads run one at a time and reach memory in that order, so a reload read before a
 * write never lands after it; a node skips its own notices, its writes being in memory already.
 */
/** How long after a failed reload everything is reloaded. */
const RETRY_MS = 1000;

export abstract class SharedStateBackend implements PulsarStateBackend {
  readonly local = false;
  /** This backend's mark on its notices. */
  protected readonly origin = crypto.randomUUID();
  readonly #log: Logger;
  #queue: Promise<unknown> = Promise.resolve();
  #listener?: RemoteListener;
  #failing = false;
  #closed = false;
  #retry?: ReturnType<typeof setTimeout>;

  protected constructor(log: Logger) {
    this.#log = log;
  }

  /** Every stored record. */
  protected abstract readAll(): Promise<PulsarRecords>;
  /** One record as stored now (no value when there is none). */
  protected abstract readRecord(kind: RecordKind, key: string): Promise<RecordChange>;
  /**
   * Stores `changes` all or none (none, resolving false, when `guard` does not hold of the first
   * as stored) and announces each record that changed (see `notice`).
   */
  protected abstract store(changes: RecordChange[], guard: Guard | undefined): Promise<boolean>;
  /** Closes the backend's connections. */
  protected abstract disconnect(): Promise<void>;

  /** The announcement of a change of `change`'s record. */
  protected notice(change: RecordChange): string {
    return JSON.stringify([this.origin, change.kind, change.key]);
  }

  load(): Promise<PulsarRecords> {
    return this.#serial(() => this.readAll());
  }

  write(
    changes: RecordChange[],
    guard: Guard | undefined,
    apply: (changes: RecordChange[]) => void,
  ): Promise<boolean> {
    return this.#serial(async () => {
      const stored = await this.store(changes, guard);
      if (stored) apply(changes);
      return stored;
    });
  }

  onRemoteChange(listener: RemoteListener): void {
    this.#listener = listener;
  }

  /** A notice arrived: reload the record it names, unless this node wrote it. */
  protected heard(notice: string): void {
    let origin, kind, key;
    try {
      [origin, kind, key] = JSON.parse(notice);
    } catch {
      return this.#log("warn", "pulsar store: a change notice that is not JSON", { notice });
    }
    if (origin === this.origin) return;
    this.#background(async () => this.#listener?.changed(await this.readRecord(kind, key)));
  }

  /** Notices may have been lost (the connection was down): reload everything. */
  protected reconnected(): void {
    this.#background(async () => this.#listener?.reloaded(await this.readAll()));
  }

  /**
   * Runs a reload after the queued work. One that fails (the store unreachable) may have missed
   * a change, so everything is reloaded a little later, until that works.
   */
  #background(op: () => Promise<void>) {
    this.#serial(op).then(
      () => this.#failing = false,
      (e) => {
        if (this.#closed) return;
        if (!this.#failing) this.#log("warn", "pulsar store reload failed", { error: String(e) });
        this.#failing = true;
        this.#retry ??= setTimeout(() => {
          this.#retry = undefined;
          this.reconnected();
        }, RETRY_MS);
      },
    );
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#queue;
    await this.disconnect();
  }
}
