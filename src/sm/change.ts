import type { Ctx, WalEntry } from "./wal-entry.ts";

/**
 * A change of one instance, as watchers and the bus see it. Creations and deletions are
 * changes too: `event` is `$created` / `$deleted`, and `kind` says which (an extra field
 * rstmdb's clients ignore).
 */
export interface Change {
  kind: "created" | "transition" | "deleted";
  walOffset: number;
  instanceId: string;
  machine: string;
  version: number;
  fromState: string;
  toState: string;
  event: string;
  payload: unknown;
  ctx: Ctx;
  time: number;
}

export const CREATED_EVENT = "$created";
export const DELETED_EVENT = "$deleted";

/** The changes an entry at `walOffset` made, in order (none for machine definitions). */
export function changesOf(entry: WalEntry, walOffset: number, time: number): Change[] {
  switch (entry.type) {
    case "batch":
      return entry.entries.flatMap((e) => changesOf(e, walOffset, time));
    case "put_machine":
    case "gap":
    case "flush_all":
      return [];
    case "create_instance":
      return [{
        kind: "created",
        walOffset,
        instanceId: entry.instance_id,
        machine: entry.machine,
        version: entry.version,
        fromState: "",
        toState: entry.state,
        event: CREATED_EVENT,
        payload: null,
        ctx: entry.ctx,
        time,
      }];
    case "apply_event":
      return [{
        kind: "transition",
        walOffset,
        instanceId: entry.instance_id,
        machine: entry.machine,
        version: entry.version,
        fromState: entry.from_state,
        toState: entry.to_state,
        event: entry.event,
        payload: entry.payload,
        ctx: entry.ctx,
        time,
      }];
    case "delete_instance":
      return [{
        kind: "deleted",
        walOffset,
        instanceId: entry.instance_id,
        machine: entry.machine,
        version: entry.version,
        fromState: entry.state,
        toState: entry.state,
        event: DELETED_EVENT,
        payload: null,
        ctx: {},
        time,
      }];
  }
}
