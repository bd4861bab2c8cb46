import { createHash } from "node:crypto";
import { join } from "node:path";
import type { FsyncPolicy } from "../log/fsync-policy.ts";
import { Log } from "../log/log.ts";
import { RECORD_HEADER } from "../log/record.ts";
import { writeSnapshot } from "../log/snapshot.ts";
import { type Change, changesOf } from "./change.ts";
import { badRequest, SmError, SmErrorCode, toSmError } from "./errors.ts";
import type {
  ApplyEventParams,
  CreateInstanceParams,
  DeleteInstanceParams,
  InstanceRef,
  ListInstancesParams,
  MachineRef,
  PutMachineParams,
} from "./params.ts";
import {
  instanceNotFound,
  instanceNotFoundError,
  type Plan,
  planApplyEvent,
  planCreateInstance,
  planDeleteInstance,
  planPutMachine,
} from "./planner.ts";
import { encodeStateSnapshot, loadStateSnapshot, saveStateSnapshot } from "./snapshot-file.ts";
import { type Instance, SmState } from "./state.ts";
import { instanceListItem, instanceView, machineView } from "./views.ts";
import {
  decodeEntry,
  encodeEntry,
  resultOf,
  type SingleEntry,
  type WalEntry,
} from "./wal-entry.ts";
import { Fifo } from "../core/fifo.ts";
import type { Logger } from "../core/logger.ts";

export interface EngineOptions {
  /** Holds `wal/` (log segments) and `snapshots/`. */
  dir: string;
  fsync: FsyncPolicy;
  segmentBytes?: number;
  /** Versions allowed per machine; 0 = no limit. */
  maxMachineVersions?: number;
  idempotencyWindowMs?: number;
  /** FLUSH_ALL deletes everything; off unless allowed (rstmdb's storage.allow_flush_all). */
  allowFlushAll?: boolean;
  compaction?: { enabled: boolean; eventsThreshold: number; sizeThresholdBytes: number };
  /** Reports failures of background work (automatic compaction). */
  log?: Logger;
  now?: () => number;
}

/** The operations a batch may hold (no AUTH, WATCH, BATCH or admin operations). */
export type BatchOp =
  | { op: "PUT_MACHINE"; params: PutMachineParams }
  | { op: "GET_MACHINE"; params: MachineRef }
  | { op: "CREATE_INSTANCE"; params: CreateInstanceParams }
  | { op: "GET_INSTANCE"; params: InstanceRef }
  | { op: "APPLY_EVENT"; params: ApplyEventParams }
  | { op: "DELETE_INSTANCE"; params: DeleteInstanceParams };
export const BATCH_OPS: ReadonlySet<string> = new Set<BatchOp["op"]>([
  "PUT_MACHINE",
  "GET_MACHINE",
  "CREATE_INSTANCE",
  "GET_INSTANCE",
  "APPLY_EVENT",
  "DELETE_INSTANCE",
]);
export const MAX_BATCH_OPS = 100;

export type Result = Record<string, unknown>;
export type BatchResult = { status: "ok"; result: Result } | {
  status: "error";
  error: ReturnType<SmError["toBody"]>;
};

interface IoStats {
  bytes_written: number;
  bytes_read: number;
  writes: number;
  reads: number;
  fsyncs: number;
}

type Waiter = { resolve: () => void; reject: (e: unknown) => void };

/**
 * The state-machine database: a state (SmState) changed only by WAL entries, written to its
 * own Log. A write is decided and applied in memory synchronously, in log order, then
 * acknowledged once the log reports it durable (group commit makes concurrent writes share an
 * fsync). Reads answer once what they saw is durable, so nobody sees a write that a crash could
 * take back. Changes reach listeners (watchers, the bus) in WAL order, once durable.
 */
export class StateMachineEngine {
  readonly #options: EngineOptions;
  readonly #log: Log;
  readonly #state: SmState;
  readonly #snapshotDir: string;
  /** The log assigns the same numbers: this engine is its only writer. */
  #nextSeq: number;
  #durableSeq: number;
  readonly #waiters = new Map<number, Waiter[]>();
  readonly #pendingChanges = new Fifo<{ seq: number; changes: Change[] }>();
  readonly #listeners = new Set<(change: Change) => void>();
  #failure?: SmError;
  #eventsSinceSnapshot = 0;
  #bytesAfterCompaction = 0;
  #compaction: Promise<unknown> = Promise.resolve();
  #compactionQueued = false;
  readonly #io: IoStats;

  private constructor(
    options: EngineOptions,
    log: Log,
    state: SmState,
    nextSeq: number,
    io: IoStats,
  ) {
    this.#options = options;
    this.#io = io;
    this.#log = log;
    this.#state = state;
    this.#snapshotDir = join(options.dir, "snapshots");
    this.#nextSeq = nextSeq;
    this.#durableSeq = nextSeq - 1;
    this.#bytesAfterCompaction = log.bytes;
  }

  /** Opens (or creates) the database: the latest snapshot, then the log after it. */
  static async open(options: EngineOptions): Promise<StateMachineEngine> {
    const snapshotDir = join(options.dir, "snapshots");
    await Deno.mkdir(join(snapshotDir, "instances"), { recursive: true });
    const windowMs = options.idempotencyWindowMs ?? 24 * 3_600_000;
    const image = await loadStateSnapshot(snapshotDir);
    const state = image ? SmState.fromImage(image, windowMs) : new SmState(windowMs);
    const io: IoStats = { bytes_written: 0, bytes_read: 0, writes: 0, reads: 0, fsyncs: 0 };
    const log = await Log.open({
      dir: join(options.dir, "wal"),
      fsync: options.fsync,
      segmentBytes: options.segmentBytes,
      dataDir: options.dir,
      onSync: () => io.fsyncs++,
    });
    const covered = image?.seq ?? 0;
    if (log.firstSeq > covered + 1) {
      await log.close();
      throw new SmError(
        SmErrorCode.WalIoError,
        `${options.dir}: WAL records ${covered + 1}..${
          log.firstSeq - 1
        } are missing and no snapshot ` +
          "covers them; restore the data directory from a backup",
      );
    }
    for await (const batch of log.readBatches(covered + 1)) {
      for (const r of batch) state.apply(decodeEntry(r.data), r.seq, r.time);
    }
    let next = Math.max(log.lastSeq + 1, log.segments().at(-1)!.baseSeq);
    if (next <= covered) {
      const gap = encodeEntry({ type: "gap" });
      const fill = Array.from(
        { length: covered - next + 1 },
        () => ({ data: gap, time: Date.now() }),
      );
      next = (await log.append(fill)).lastSeq + 1;
    }
    return new StateMachineEngine(options, log, state, next, io);
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  /** Offset of the newest durable entry (0 when none). */
  get durableOffset(): number {
    return this.#durableSeq;
  }

  /** Offset of the oldest entry still in the WAL (older ones were compacted into a snapshot). */
  get oldestOffset(): number {
    return this.#log.firstSeq || this.#durableSeq + 1;
  }

  /** Called for every change, in WAL order, once durable. Returns the unsubscribe function. */
  onChange(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  instance(id: string): Instance | undefined {
    return this.#state.instances.get(id);
  }

  // ---- reads

  getMachine(p: MachineRef): Promise<Result> {
    const m = this.#state.machine(p.machine, p.version);
    if (!m) return Promise.reject(machineNotFound(p));
    const { definition, checksum } = machineView(m);
    return this.#whenDurable(m.walOffset, { definition, checksum });
  }

  listMachines(): Result {
    const names = [...this.#state.machines.keys()].sort();
    return {
      items: names.map((machine) => ({
        machine,
        versions: [...this.#state.machines.get(machine)!.keys()].sort((a, b) => a - b),
      })),
    };
  }

  getInstance(p: InstanceRef): Promise<Result> {
    const i = this.#state.instances.get(p.instance_id);
    if (!i) return Promise.reject(instanceNotFoundError(p.instance_id));
    return this.#whenDurable(i.lastWalOffset, instanceView(i));
  }

  listInstances(p: ListInstancesParams): Promise<Result> {
    let afterOrdinal: number | undefined;
    if (p.cursor !== undefined) {
      afterOrdinal = Number(p.cursor);
      if (!Number.isSafeInteger(afterOrdinal)) {
        return Promise.reject(
          new SmError(
            SmErrorCode.BadRequest,
            "LIST_INSTANCES: cursor must be a next_cursor from a previous page",
          ),
        );
      }
    }
    const page = this.#state.index.page({ ...p, afterOrdinal });
    const instances = page.ids.map((id) => instanceListItem(this.#state.instances.get(id)!));
    return this.#whenDurable(this.#nextSeq - 1, {
      instances,
      total: page.total,
      has_more: page.hasMore,
      ...(page.hasMore && page.lastOrdinal !== undefined
        ? { next_cursor: String(page.lastOrdinal) }
        : {}),
    });
  }

  // ---- writes

  putMachine(p: PutMachineParams): Promise<Result> {
    return this.#run({ op: "PUT_MACHINE", params: p });
  }

  createInstance(p: CreateInstanceParams): Promise<Result> {
    return this.#run({ op: "CREATE_INSTANCE", params: p });
  }

  applyEvent(p: ApplyEventParams): Promise<Result> {
    return this.#run({ op: "APPLY_EVENT", params: p });
  }

  deleteInstance(p: DeleteInstanceParams): Promise<Result> {
    return this.#run({ op: "DELETE_INSTANCE", params: p });
  }

  /**
   * `atomic`: every op is decided against the state the previous ones left; if one fails, the
   * earlier ones are rolled back, nothing is written and the batch fails with BAD_REQUEST;
   * otherwise all go into one log record.
   * `best_effort`: each op on its own, each result reported.
   */
  async batch(mode: "atomic" | "best_effort", ops: BatchOp[]): Promise<{ results: BatchResult[] }> {
    if (mode === "best_effort") {
      const settled = await Promise.allSettled(ops.map((op) => this.#run(op)));
      return {
        results: settled.map((s) =>
          s.status === "fulfilled"
            ? { status: "ok", result: s.value }
            : { status: "error", error: toSmError(s.reason).toBody() }
        ),
      };
    }
    this.#checkWritable();
    const seq = this.#nextSeq;
    const time = this.#now();
    const undos: (() => void)[] = [];
    const written: SingleEntry[] = [];
    const answers: { entry?: SingleEntry; result?: Result; walOffset: number }[] = [];
    for (let i = 0; i < ops.length; i++) {
      try {
        const plan = this.#plan(ops[i], time);
        if (plan.kind === "write") {
          undos.push(this.#state.apply(plan.entry, seq, time));
          written.push(plan.entry);
          answers.push({ entry: plan.entry, walOffset: seq });
        } else answers.push(plan);
      } catch (e) {
        for (const undo of undos.reverse()) undo();
        const error = toSmError(e);
        // rstmdb's code and message prefix (its clients match on them); the op's own code is
        // kept in details.
        throw new SmError(
          SmErrorCode.BadRequest,
          `atomic batch failed: ops[${i}] (${ops[i].op}) ${error.code}: ${error.message}; ` +
            "nothing was applied",
          { details: { ...error.details, code: error.code, op_index: i } },
        );
      }
    }
    if (written.length) {
      const entry: WalEntry = { type: "batch", entries: written };
      let data: Uint8Array;
      try {
        data = encodeEntry(entry);
      } catch (e) {
        for (const undo of undos.reverse()) undo();
        throw toSmError(e);
      }
      this.#append(entry, data, this.#nextSeq++, time);
    }
    await this.#afterDurable(Math.max(0, ...answers.map((a) => a.walOffset)));
    return {
      results: answers.map((a) => ({
        status: "ok",
        result: a.entry ? resultOf(a.entry, seq) : a.result!,
      })),
    };
  }

  /** Deletes every machine, instance and idempotency result (one WAL entry). */
  flushAll(): Promise<Result> {
    try {
      if (!this.#options.allowFlushAll) {
        throw badRequest(
          "FLUSH_ALL is disabled: start catbusd with --sm-allow-flush-all " +
            "(storage.allow_flush_all, RSTMDB_ALLOW_FLUSH_ALL) to allow it",
        );
      }
      this.#checkWritable();
      let machines_removed = 0;
      for (const versions of this.#state.machines.values()) machines_removed += versions.size;
      const result = {
        flushed: true,
        instances_removed: this.#state.instances.size,
        machines_removed,
      };
      const time = this.#now();
      const entry = { type: "flush_all" } as const;
      const data = encodeEntry(entry);
      const seq = this.#nextSeq++;
      this.#state.apply(entry, seq, time);
      this.#append(entry, data, seq, time);
      return this.#whenDurable(seq, result);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #run(op: BatchOp): Promise<Result> {
    try {
      const time = this.#now();
      const plan = this.#plan(op, time);
      if (plan.kind === "answer") return this.#whenDurable(plan.walOffset, plan.result);
      this.#checkWritable();
      // Encoded before anything changes: a failure here (a value JSON cannot write) must leave
      // the state and the sequence as they were, or the next record would be misnumbered.
      const data = encodeEntry(plan.entry);
      const seq = this.#nextSeq;
      this.#state.apply(plan.entry, seq, time);
      this.#nextSeq++;
      this.#append(plan.entry, data, seq, time);
      return this.#whenDurable(seq, resultOf(plan.entry, seq));
    } catch (e) {
      return Promise.reject(toSmError(e));
    }
  }

  #plan(op: BatchOp, now: number): Plan {
    const ctx = {
      state: this.#state,
      now,
      newId: () => crypto.randomUUID(),
      maxMachineVersions: this.#options.maxMachineVersions ?? 0,
    };
    switch (op.op) {
      case "PUT_MACHINE":
        return planPutMachine(ctx, op.params);
      case "CREATE_INSTANCE":
        return planCreateInstance(ctx, op.params);
      case "APPLY_EVENT":
        return planApplyEvent(ctx, op.params);
      case "DELETE_INSTANCE":
        return planDeleteInstance(ctx, op.params);
      case "GET_MACHINE": {
        const m = this.#state.machine(op.params.machine, op.params.version);
        if (!m) throw machineNotFound(op.params);
        const { definition, checksum } = machineView(m);
        return { kind: "answer", result: { definition, checksum }, walOffset: m.walOffset };
      }
      case "GET_INSTANCE": {
        const i = this.#state.instances.get(op.params.instance_id) ??
          instanceNotFound(op.params.instance_id);
        return { kind: "answer", result: instanceView(i), walOffset: i.lastWalOffset };
      }
    }
  }

  #checkWritable() {
    if (this.#failure) throw this.#failure;
  }

  /** Hands the entry (already applied in memory as `seq`) to the log. */
  #append(entry: WalEntry, data: Uint8Array, seq: number, time: number) {
    const changes = changesOf(entry, seq, time);
    if (changes.length) this.#pendingChanges.push({ seq, changes });
    this.#io.writes++;
    this.#io.bytes_written += data.length + RECORD_HEADER + 16;
    this.#eventsSinceSnapshot++;
    this.#state.idempotency.expire(time);
    this.#log.append([{ data, time }]).then(
      ({ firstSeq }) =>
        firstSeq === seq
          ? this.#markDurable(seq)
          : this.#fail(new Error(`the log numbered entry ${seq} as ${firstSeq}`)),
      (e) => this.#fail(e),
    );
    this.#maybeCompact();
  }

  #whenDurable(seq: number, result: Result): Promise<Result> {
    return this.#afterDurable(seq).then(() => result);
  }

  #afterDurable(seq: number): Promise<void> {
    if (seq <= this.#durableSeq) return Promise.resolve();
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(seq);
      if (list) list.push({ resolve, reject });
      else this.#waiters.set(seq, [{ resolve, reject }]);
    });
  }

  #markDurable(seq: number) {
    // The log acknowledges appends in order, so this advances one entry at a time.
    for (let s = this.#durableSeq + 1; s <= seq; s++) {
      for (const w of this.#waiters.get(s) ?? []) w.resolve();
      this.#waiters.delete(s);
    }
    this.#durableSeq = Math.max(this.#durableSeq, seq);
    while (this.#pendingChanges.length && this.#pendingChanges.first()!.seq <= this.#durableSeq) {
      for (const change of this.#pendingChanges.shift()!.changes) {
        for (const listener of this.#listeners) listener(change);
      }
    }
  }

  #fail(cause: unknown) {
    this.#failure ??= new SmError(
      SmErrorCode.WalIoError,
      `the state-machine WAL failed (${(cause as Error)?.message ?? cause}); writes are refused ` +
        "until catbusd is restarted",
      { cause },
    );
    for (const list of this.#waiters.values()) for (const w of list) w.reject(this.#failure);
    this.#waiters.clear();
  }

  // ---- WAL, snapshots, compaction

  async walRead(fromOffset: number, limit: number): Promise<Result> {
    const start = Math.max(fromOffset, this.oldestOffset);
    const end = this.#durableSeq;
    const records: Result[] = [];
    this.#io.reads++;
    read: for await (const batch of this.#log.readBatches(start)) {
      for (const r of batch) {
        if (r.seq > end || records.length >= limit) break read;
        this.#io.bytes_read += r.data.length + RECORD_HEADER + 16;
        records.push({ sequence: r.seq, offset: r.seq, entry: decodeEntry(r.data) });
      }
    }
    const last = records.at(-1)?.sequence as number | undefined;
    return { records, next_offset: last !== undefined ? last + 1 : start };
  }

  /** The changes of entries `fromOffset..toOffset` still in the WAL (for watch replay). */
  async *readChanges(fromOffset: number, toOffset: number): AsyncGenerator<Change[]> {
    this.#io.reads++;
    for await (const batch of this.#log.readBatches(fromOffset)) {
      const changes: Change[] = [];
      for (const r of batch) {
        if (r.seq > toOffset) break;
        this.#io.bytes_read += r.data.length + RECORD_HEADER + 16;
        changes.push(...changesOf(decodeEntry(r.data), r.seq, r.time));
      }
      if (changes.length) yield changes;
      if (batch.at(-1)!.seq >= toOffset) return;
    }
  }

  walStats(): Result {
    const first = this.#log.firstSeq;
    return {
      entry_count: first ? this.#durableSeq - first + 1 : 0,
      segment_count: this.#log.segmentCount,
      total_size_bytes: this.#log.bytes,
      latest_offset: this.#durableSeq,
      io_stats: { ...this.#io },
    };
  }

  async snapshotInstance(p: InstanceRef): Promise<Result> {
    const i = this.#state.instances.get(p.instance_id) ?? instanceNotFound(p.instance_id);
    const bytes = new TextEncoder().encode(
      JSON.stringify({ instance: instanceView(i), wal_offset: i.lastWalOffset }),
    );
    await this.#afterDurable(i.lastWalOffset);
    const checksum = createHash("sha256").update(bytes).digest("hex");
    const name = createHash("sha256").update(i.id).digest("hex").slice(0, 32);
    await writeSnapshot(join(this.#snapshotDir, "instances"), name, bytes);
    return {
      instance_id: i.id,
      snapshot_id: `snap-${name.slice(0, 16)}-${i.lastWalOffset}`,
      wal_offset: i.lastWalOffset,
      size_bytes: bytes.length,
      checksum,
    };
  }

  /**
   * Writes a snapshot of the whole state and deletes the log segments it covers. Without
   * `force`, nothing happens when nothing was written since the last snapshot.
   */
  compact(force: boolean): Promise<Result> {
    const run = this.#compaction.then(() => this.#compactNow(force));
    this.#compaction = run.catch(() => {});
    return run;
  }

  async #compactNow(force: boolean): Promise<Result> {
    let snapshots_created = 0;
    let segments_deleted = 0;
    let bytes_reclaimed = 0;
    if (force || this.#eventsSinceSnapshot > 0) {
      const seq = this.#nextSeq - 1;
      this.#state.idempotency.expire(this.#now());
      const bytes = encodeStateSnapshot(this.#state.image(seq));
      this.#eventsSinceSnapshot = 0;
      await this.#afterDurable(seq);
      await saveStateSnapshot(this.#snapshotDir, bytes);
      snapshots_created = 1;
      const sealed = this.#log.segments().slice(0, -1).filter((s) => s.lastSeq <= seq);
      bytes_reclaimed = sealed.reduce((n, s) => n + s.size, 0);
      segments_deleted = await this.#log.truncateBefore(seq + 1);
      this.#bytesAfterCompaction = this.#log.bytes;
    }
    let total_snapshots = 0;
    for (const dir of [this.#snapshotDir, join(this.#snapshotDir, "instances")]) {
      for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".snapshot")) total_snapshots++;
    }
    return {
      snapshots_created,
      segments_deleted,
      bytes_reclaimed,
      total_snapshots,
      wal_segments: this.#log.segmentCount,
    };
  }

  #maybeCompact() {
    const c = this.#options.compaction;
    if (!c?.enabled || this.#compactionQueued) return;
    const byEvents = c.eventsThreshold > 0 && this.#eventsSinceSnapshot >= c.eventsThreshold;
    const bySize = c.sizeThresholdBytes > 0 &&
      this.#log.bytes - this.#bytesAfterCompaction >= c.sizeThresholdBytes;
    if (!byEvents && !bySize) return;
    this.#compactionQueued = true;
    this.compact(false)
      .catch((e) =>
        this.#options.log?.("warn", "state-machine compaction failed", { error: String(e) })
      )
      .finally(() => this.#compactionQueued = false);
  }

  async close(): Promise<void> {
    await this.#compaction;
    await this.#log.close();
  }
}

const machineNotFound = (p: MachineRef) =>
  new SmError(
    SmErrorCode.MachineNotFound,
    `machine ${p.machine} version ${p.version} does not exist; put it first (PUT_MACHINE)`,
    { details: { machine: p.machine, version: p.version } },
  );
