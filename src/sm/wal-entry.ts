import type { MachineDefinition } from "./definition.ts";

/**
 * What the state-machine WAL holds: one JSON entry per log record. Entries carry their results
 * (target state, ctx after the merge) so recovery and replay never re-run guards or merges, and
 * `idempotency` so retries are recognised after a restart.
 */
export type Ctx = Record<string, unknown>;

export interface IdempotencyStamp {
  /** Operation, instance and key (see idempotencyScope). */
  scope: string;
  /** Digest of the request parameters: a retry with different ones is a CONFLICT. */
  digest: string;
}

export interface PutMachineEntry {
  type: "put_machine";
  machine: string;
  version: number;
  definition: MachineDefinition;
  checksum: string;
}

export interface CreateInstanceEntry {
  type: "create_instance";
  instance_id: string;
  machine: string;
  version: number;
  state: string;
  ctx: Ctx;
  idempotency?: IdempotencyStamp;
}

export interface ApplyEventEntry {
  type: "apply_event";
  instance_id: string;
  machine: string;
  version: number;
  from_state: string;
  to_state: string;
  event: string;
  payload: unknown;
  ctx: Ctx;
  event_id: string;
  idempotency?: IdempotencyStamp;
}

export interface DeleteInstanceEntry {
  type: "delete_instance";
  instance_id: string;
  machine: string;
  version: number;
  state: string;
  idempotency?: IdempotencyStamp;
}

/** An atomic batch: all of its entries are one log record, so they land together or not at all. */
export interface BatchEntry {
  type: "batch";
  entries: SingleEntry[];
}

/**
 * Written only at recovery, when a snapshot (fsynced) covers sequence numbers the log lost in a
 * machine crash under a lazy fsync policy: fillers bring the log's sequence up to the snapshot's
 * so that new records never reuse a number the snapshot already covers.
 */
export interface GapEntry {
  type: "gap";
}

/** FLUSH_ALL: every machine, instance and idempotency result is gone after it. */
export interface FlushAllEntry {
  type: "flush_all";
}

export type SingleEntry =
  | PutMachineEntry
  | CreateInstanceEntry
  | ApplyEventEntry
  | DeleteInstanceEntry;
export type WalEntry = SingleEntry | BatchEntry | GapEntry | FlushAllEntry;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encodeEntry = (entry: WalEntry): Uint8Array => encoder.encode(JSON.stringify(entry));
export const decodeEntry = (data: Uint8Array): WalEntry => JSON.parse(decoder.decode(data));

/** The result a client got for an entry written at `walOffset` (replayed for idempotent retries). */
export function resultOf(entry: SingleEntry, walOffset: number): Record<string, unknown> {
  switch (entry.type) {
    case "put_machine":
      return {
        machine: entry.machine,
        version: entry.version,
        stored_checksum: entry.checksum,
        created: true,
      };
    case "create_instance":
      return { instance_id: entry.instance_id, state: entry.state, wal_offset: walOffset };
    case "apply_event":
      return {
        from_state: entry.from_state,
        to_state: entry.to_state,
        ctx: entry.ctx,
        wal_offset: walOffset,
        applied: true,
        event_id: entry.event_id,
      };
    case "delete_instance":
      return { instance_id: entry.instance_id, deleted: true, wal_offset: walOffset };
  }
}
