import { compileDefinition, type CompiledMachine, type MachineDefinition } from "./definition.ts";
import { IdempotencyTable, type IdempotentResult } from "./idempotency.ts";
import { InstanceIndex } from "./instance-index.ts";
import { type Ctx, resultOf, type SingleEntry, type WalEntry } from "./wal-entry.ts";

export interface MachineVersion {
  machine: string;
  version: number;
  compiled: CompiledMachine;
  checksum: string;
  walOffset: number;
}

export interface Instance {
  /** Creation order, for stable listing. */
  ordinal: number;
  id: string;
  machine: string;
  version: number;
  state: string;
  ctx: Ctx;
  lastEventId?: string;
  lastWalOffset: number;
  createdAt: number;
  updatedAt: number;
  /**
   * Deleted instances are kept, as rstmdb does: GET answers them (marked deleted), a second
   * delete is a no-op and their id is not reused. Listing leaves them out.
   */
  deleted?: true;
}

/** Reverts one `apply` (atomic batches roll back with these). */
export type Undo = () => void;

/** Everything a snapshot holds; `seq` is the last log record it covers. */
export interface StateImage {
  seq: number;
  nextOrdinal: number;
  machines: {
    machine: string;
    version: number;
    definition: MachineDefinition;
    checksum: string;
    wal_offset: number;
  }[];
  instances: Instance[];
  idempotency: [string, IdempotentResult][];
}

/**
 * The in-memory state: machine versions, instances, the listing index and the idempotency
 * table. It changes only through `apply(entry)`, both for new writes and for log replay, so a
 * recovered state is the state that was acknowledged. Pure (no I/O).
 */
export class SmState {
  readonly machines = new Map<string, Map<number, MachineVersion>>();
  readonly instances = new Map<string, Instance>();
  readonly index = new InstanceIndex();
  readonly idempotency: IdempotencyTable;
  #nextOrdinal = 1;

  constructor(idempotencyWindowMs: number) {
    this.idempotency = new IdempotencyTable(idempotencyWindowMs);
  }

  machine(name: string, version: number): MachineVersion | undefined {
    return this.machines.get(name)?.get(version);
  }

  /** Adds a machine version (from the WAL or a snapshot); the definition is compiled here. */
  #addMachine(
    machine: string,
    version: number,
    definition: Parameters<typeof compileDefinition>[0],
    checksum: string,
    walOffset: number,
  ): void {
    let versions = this.machines.get(machine);
    if (!versions) this.machines.set(machine, versions = new Map());
    versions.set(version, {
      machine,
      version,
      compiled: compileDefinition(definition, true),
      checksum,
      walOffset,
    });
  }

  apply(entry: WalEntry, walOffset: number, time: number): Undo {
    switch (entry.type) {
      case "gap":
        return () => {};
      case "flush_all":
        this.machines.clear();
        this.instances.clear();
        this.index.clear();
        this.idempotency.clear();
        // FLUSH_ALL is not allowed in a batch, so nothing rolls it back.
        return () => {};
      case "batch": {
        const undos = entry.entries.map((e) => this.apply(e, walOffset, time));
        return () => undos.reverse().forEach((u) => u());
      }
      default: {
        const undoChange = this.#applySingle(entry, walOffset, time);
        const undoStamp = this.#stamp(entry, walOffset, time);
        return () => {
          undoStamp();
          undoChange();
        };
      }
    }
  }

  #stamp(entry: SingleEntry, walOffset: number, time: number): Undo {
    if (entry.type === "put_machine" || !entry.idempotency) return () => {};
    const { scope, digest } = entry.idempotency;
    const before = this.idempotency.peek(scope);
    this.idempotency.set(scope, {
      digest,
      result: resultOf(entry, walOffset),
      time,
      walOffset,
    });
    return () => before ? this.idempotency.set(scope, before) : this.idempotency.delete(scope);
  }

  #applySingle(entry: SingleEntry, walOffset: number, time: number): Undo {
    switch (entry.type) {
      case "put_machine": {
        this.#addMachine(
          entry.machine,
          entry.version,
          entry.definition,
          entry.checksum,
          walOffset,
        );
        return () => {
          const versions = this.machines.get(entry.machine)!;
          versions.delete(entry.version);
          if (!versions.size) this.machines.delete(entry.machine);
        };
      }
      case "create_instance": {
        const instance: Instance = {
          ordinal: this.#nextOrdinal++,
          id: entry.instance_id,
          machine: entry.machine,
          version: entry.version,
          state: entry.state,
          ctx: entry.ctx,
          lastWalOffset: walOffset,
          createdAt: time,
          updatedAt: time,
        };
        this.instances.set(instance.id, instance);
        this.index.add(instance);
        return () => {
          this.instances.delete(instance.id);
          this.index.remove(instance);
        };
      }
      case "apply_event": {
        const instance = this.instances.get(entry.instance_id);
        if (!instance) return () => {};
        const before = { ...instance };
        this.index.move(instance, entry.to_state);
        instance.state = entry.to_state;
        instance.ctx = entry.ctx;
        instance.lastEventId = entry.event_id;
        instance.lastWalOffset = walOffset;
        instance.updatedAt = time;
        return () => {
          this.index.move(instance, before.state);
          Object.assign(instance, before);
        };
      }
      case "delete_instance": {
        const instance = this.instances.get(entry.instance_id);
        if (!instance || instance.deleted) return () => {};
        const before = { ...instance };
        this.index.remove(instance);
        instance.deleted = true;
        instance.lastWalOffset = walOffset;
        instance.updatedAt = time;
        return () => {
          delete instance.deleted;
          Object.assign(instance, before);
          this.index.add(instance);
        };
      }
    }
  }

  image(seq: number): StateImage {
    const machines: StateImage["machines"] = [];
    for (const versions of this.machines.values()) {
      for (const m of versions.values()) {
        machines.push({
          machine: m.machine,
          version: m.version,
          definition: m.compiled.definition,
          checksum: m.checksum,
          wal_offset: m.walOffset,
        });
      }
    }
    return {
      seq,
      nextOrdinal: this.#nextOrdinal,
      machines,
      instances: [...this.instances.values()],
      idempotency: this.idempotency.entries(),
    };
  }

  static fromImage(image: StateImage, idempotencyWindowMs: number): SmState {
    const state = new SmState(idempotencyWindowMs);
    for (const m of image.machines) {
      state.#addMachine(m.machine, m.version, m.definition, m.checksum, m.wal_offset);
    }
    for (const i of image.instances) {
      state.instances.set(i.id, i);
      if (!i.deleted) state.index.add(i);
    }
    for (const [scope, entry] of image.idempotency) state.idempotency.set(scope, entry);
    state.#nextOrdinal = image.nextOrdinal;
    return state;
  }
}
