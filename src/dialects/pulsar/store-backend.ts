import type { PulsarRecords } from "./records.ts";
import type { Guard, RecordChange } from "./record-types.ts";

/** Told of records another node changed. */
export interface RemoteListener {
  /** One record as it is now stored (no value: removed). */
  changed(change: RecordChange): void;
  /** Everything, reloaded (after notifications may have been lost). */
  reloaded(records: PulsarRecords): void;
}

/**
 * Where PulsarStore keeps its records: the data directory (one node), PostgreSQL or Valkey
 * (shared by every node on them), one record per change. The store holds them all in memory for
 * its synchronous reads; a shared backend tells it which record another node changed.
 */
export interface PulsarStateBackend {
  /**
   * True when only this node writes (the data directory): memory is the newest, so the store's
   * check of a guard on memory decides, and `write` applies the changes at once, before they are
   * on disk, so that no other change can slip between that check and them.
   */
  readonly local: boolean;
  /** Every stored record. */
  load(): Promise<PulsarRecords>;
  /**
   * Stores `changes` all or none — none, resolving false, when `guard` does not hold of the first
   * — and hands them to `apply` (the memory): a shared backend once they are stored, in order
   * with the changes it hears from other nodes. Resolves once they are stored.
   */
  write(
    changes: RecordChange[],
    guard: Guard | undefined,
    apply: (changes: RecordChange[]) => void,
  ): Promise<boolean>;
  onRemoteChange(listener: RemoteListener): void;
  close(): Promise<void>;
}
