import { join } from "node:path";
import { concat } from "../../client/shared/bytes.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { syncDir, writeFileAtomic } from "./atomic-file.ts";
import { type EncryptionOptions, RecordCipher } from "./encryption.ts";
import { LogCorruptionError, LogGapError, LogKeyError, storageError } from "./errors.ts";
import type { FsyncPolicy } from "./fsync-policy.ts";
import { readIndexFile, writeIndexFile } from "./index-file.ts";
import {
  findLosses,
  type LogLoss,
  type LogState,
  readLogState,
  writeLogState,
} from "./log-state.ts";
import type { OpenFiles } from "./open-files.ts";
import { type LogRecord, parseRecord, recordSize, writeRecord } from "./record.ts";
import {
  emptySegment,
  scanSegment,
  SEGMENT_SUFFIX,
  type SegmentInfo,
  segmentPath,
} from "./segment.ts";
import { SparseIndex } from "./sparse-index.ts";

export interface LogOptions {
  dir: string;
  fsync: FsyncPolicy;
  /** Roll to a new segment file past this size (default 64 MiB). */
  segmentBytes?: number;
  /** One sparse index entry per this many bytes (default 4 KiB). */
  indexEvery?: number;
  encryption?: EncryptionOptions;
  /** Named in corruption messages so the repair command can be copied as is. */
  dataDir?: string;
  /** Called after every fsync of segment data with its duration (tests count group commits). */
  onSync?: (seconds: number) => void;
  /** Called after each batch of appends is written and acknowledged, with how long that took. */
  onCommit?: (seconds: number, records: number) => void;
  /** Shared bound on open segment files; without it the active segment stays open. */
  openFiles?: OpenFiles;
  /** Writes the log's state file (default: log-state.json, atomically; tests hold it). */
  writeState?: typeof writeLogState;
  /**
   * The durable watermark moved: every record up to `lastSeq` is durable under the fsync policy
   * (called in sequence order, after the appends' own promises resolved).
   */
  onDurable?: (lastSeq: number) => void;
  /** The records from `fromSeq` on failed (none is kept; the sequences are handed out again). */
  onFailed?: (fromSeq: number, error: unknown) => void;
}

export interface AppendInput {
  data: Uint8Array;
  time: number;
}

interface PendingAppend {
  /** Records not serialized yet: appends queued meanwhile join them (see #queueRecords). */
  inputs?: AppendInput[];
  bytes: Uint8Array;
  /** Offsets of each record inside `bytes`, with their seq and time, for the index. */
  records: { seq: number; time: number; offset: number }[];
  firstSeq: number;
  lastSeq: number;
  /** Without them the appender follows the watermark (onDurable, onFailed). */
  resolve?(range: { firstSeq: number; lastSeq: number }): void;
  reject?(error: unknown): void;
}

const KEYCHECK = "keycheck";
const EMPTY = new Uint8Array(0);
const READ_CHUNK = 1024 * 1024;
/** How often, at most, appends save the high-water mark (see log-state.ts). */
const STATE_EVERY_MS = 1000;

/**
 * An append-only log of opaque records in segment files, with CRC-checked records, a sparse
 * index by sequence and time, fsync policies with group commit, crash recovery and optional
 * encryption. Sequence numbers are assigned here, from 1, in append order.
 *
 * Appends are serialized through one writer: records appended while a write or fsync is in
 * progress are written together in the next batch (one write, one fsync). A write that fails
 * (a full disk) is cut off again and its sequences handed out anew, so the log goes on once
 * there is room; a failed fsync stops it (what reached the disk is unknown).
 */
export class Log {
  readonly #options: Required<Pick<LogOptions, "segmentBytes" | "indexEvery">> & LogOptions;
  readonly #cipher?: RecordCipher;
  #sealed: SegmentInfo[] = [];
  #active!: SegmentInfo;
  /** The active segment, open for appending; closed when idle under `openFiles`. */
  #file?: Deno.FsFile;
  readonly #holder = { release: () => this.#release() };
  #nextSeq = 1;
  #state!: LogState;
  #stateSavedAt = 0;
  /** The latest state write: they run one after the other, so an older one never lands last. */
  #stateSaved: Promise<void> = Promise.resolve();
  /** Head and tail losses found at open and not yet accepted (see acceptLosses). */
  #losses: LogLoss[] = [];
  #queue: PendingAppend[] = [];
  /**
   * Every file operation (write, fsync, roll, close) runs on this one chain, so a periodic
   * fsync never races a write or a segment roll.
   */
  #io: Promise<void> = Promise.resolve();
  #flushScheduled = false;
  /** A periodic fsync running beside the writes. */
  #background?: Promise<void>;
  /** Set while the file handle is being closed or replaced: no background fsync may start. */
  #swapping = false;
  /** Records written since the last fsync. */
  #unsyncedRecords = 0;
  #timer?: ReturnType<typeof setInterval>;
  #closed = false;
  #failure?: unknown;

  private constructor(options: LogOptions, cipher?: RecordCipher) {
    this.#options = { segmentBytes: 64 * 1024 * 1024, indexEvery: 4096, ...options };
    this.#cipher = cipher;
  }

  static async open(options: LogOptions): Promise<Log> {
    await Deno.mkdir(options.dir, { recursive: true });
    const cipher = await openCipher(options);
    const log = new Log(options, cipher);
    await log.#recover();
    const policy = options.fsync;
    if (policy.kind === "interval") {
      log.#timer = setInterval(() => log.#syncInBackground(), policy.ms);
    }
    return log;
  }

  /** Sequence of the oldest retained record, or 0 when empty. */
  get firstSeq(): number {
    const first = [...this.#sealed, this.#active].find((s) => s.records > 0);
    return first ? first.firstSeq : 0;
  }

  /**
   * Sequence of the newest record written, or the one before the active segment's first when it
   * is empty (0 for a new log): the next record gets this + 1.
   */
  get lastSeq(): number {
    return Math.max(this.#active.lastSeq, this.#sealed.at(-1)?.lastSeq ?? 0);
  }

  /** Bytes on disk over all segments. */
  get bytes(): number {
    return [...this.#sealed, this.#active].reduce((n, s) => n + s.size, 0);
  }

  /** Number of segment files (cheap: no copies). */
  get segmentCount(): number {
    return this.#sealed.length + 1;
  }

  /** Segment facts, oldest first (for `catbus debug`). */
  segments(): SegmentInfo[] {
    return [...this.#sealed, this.#active].map((s) => ({ ...s, index: new SparseIndex() }));
  }

  /** Records that were in the log and are gone, found at open (see acceptLosses). */
  get losses(): readonly LogLoss[] {
    return this.#losses;
  }

  /** The caller dealt with `losses` (a new stream epoch): they are not reported again. */
  async acceptLosses(): Promise<void> {
    if (!this.#losses.length) return;
    this.#state = { ...this.#state, firstSeq: this.firstSeq || this.#nextSeq };
    this.#state.highWater = this.lastSeq;
    this.#losses = [];
    await this.#run(() => this.#saveState());
  }

  /** Appends records; resolves with their sequence range once durable under the policy. */
  append(inputs: AppendInput[]): Promise<{ firstSeq: number; lastSeq: number }> {
    return new Promise((resolve, reject) => {
      try {
        this.#queueRecords(inputs, resolve, reject);
      } catch (e) {
        reject(e);
      }
    });
  }

  /**
   * Appends records and returns the first one's sequence (the log numbers them, in order); their
   * durability is told through the watermark (`onDurable`, `onFailed`), not a promise each.
   */
  enqueue(inputs: AppendInput[]): number {
    return this.#queueRecords(inputs);
  }

  #queueRecords(
    inputs: AppendInput[],
    resolve?: PendingAppend["resolve"],
    reject?: PendingAppend["reject"],
  ): number {
    if (this.#closed) throw new Error("log is closed");
    if (this.#failure) throw this.#failure;
    const firstSeq = this.#nextSeq;
    this.#nextSeq += inputs.length;
    const lastSeq = this.#nextSeq - 1;
    // Watermark appends queued before the writer runs share one record buffer.
    const last = this.#queue.at(-1);
    if (!resolve && last?.inputs && !last.resolve) {
      for (const input of inputs) last.inputs.push(input);
      last.lastSeq = lastSeq;
    } else {
      const pending = { inputs: resolve ? inputs : [...inputs], bytes: EMPTY, records: [] };
      this.#queue.push({ ...pending, firstSeq, lastSeq, resolve, reject });
    }
    this.#flush();
    return firstSeq;
  }

  /** Builds the queued records' bytes (sealed when encrypted) and their index facts. */
  #serialize(p: PendingAppend) {
    const inputs = p.inputs!;
    p.inputs = undefined;
    let size = 0;
    const datas = inputs.map((r) => this.#cipher ? this.#cipher.seal(r.data) : r.data);
    for (const d of datas) size += recordSize(d.length);
    p.bytes = new Uint8Array(size);
    const view = new DataView(p.bytes.buffer);
    let offset = 0;
    for (let i = 0; i < inputs.length; i++) {
      const seq = p.firstSeq + i;
      p.records.push({ seq, time: inputs[i].time, offset });
      offset = writeRecord(p.bytes, offset, { seq, time: inputs[i].time, data: datas[i] }, view);
    }
  }

  /** Every record with seq ≥ `fromSeq` that was written when the iteration reaches it. */
  async *readIter(fromSeq: number): AsyncGenerator<LogRecord> {
    for await (const batch of this.readBatches(fromSeq)) yield* batch;
  }

  /**
   * Like readIter, one array per read chunk: replays iterate records synchronously instead of
   * paying an async-iterator step per record.
   */
  async *readBatches(fromSeq: number): AsyncGenerator<LogRecord[]> {
    const all = [...this.#sealed, this.#active];
    let i = all.findLastIndex((s) => s.records > 0 && s.firstSeq <= fromSeq);
    if (i < 0) i = 0;
    for (; i < all.length; i++) {
      const seg = all[i];
      if (seg.records === 0 || seg.lastSeq < fromSeq) continue;
      const start = seg.index.floorBySeq(fromSeq) ?? 0;
      yield* this.#readSegment(seg, start, (r) => r.seq >= fromSeq);
    }
  }

  /** Sequence of the first record at or after `time`, or lastSeq + 1 when there is none. */
  async seekTime(time: number): Promise<number> {
    for (const seg of [...this.#sealed, this.#active]) {
      if (seg.records === 0 || seg.lastTime < time) continue;
      const start = seg.index.floorByTime(time) ?? 0;
      for await (const batch of this.#readSegment(seg, start, (r) => r.time >= time)) {
        return batch[0].seq;
      }
    }
    return this.lastSeq + 1;
  }

  /** Retention: deletes whole segments that end before `seq`. Returns how many went. */
  async truncateBefore(seq: number): Promise<number> {
    const doomed = this.#sealed.filter((s) => s.lastSeq < seq);
    if (!doomed.length) return 0;
    this.#sealed = this.#sealed.filter((s) => s.lastSeq >= seq);
    // Saved (and synced) first: segments retention removes must not be taken for lost ones.
    this.#state = { ...this.#state, firstSeq: this.firstSeq || this.#nextSeq };
    await this.#run(() => this.#saveState(true));
    for (const s of doomed) {
      await Deno.remove(s.path).catch(() => {});
      await Deno.remove(s.path + ".idx").catch(() => {});
    }
    await syncDir(this.#options.dir);
    return doomed.length;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#run(async () => {
      this.#swapping = true;
      await this.#background;
      await this.#syncUnsynced();
      this.#closeFile();
      if (!this.#failure) await this.#saveState();
      await this.#stateSaved; // a failed log's last periodic save, too
    });
  }

  async *#readSegment(
    seg: SegmentInfo,
    start: number,
    wanted: (r: LogRecord) => boolean,
  ): AsyncGenerator<LogRecord[]> {
    // Only bytes already written belong to the log; a concurrent append may be mid-write.
    const end = seg.size;
    const file = await Deno.open(seg.path, { read: true });
    // A record that does not parse before `end` is damage since the segment was written: say
    // where, rather than end the read there as if the log ended.
    const damaged = (at: number, reason: string) =>
      new LogCorruptionError(seg.path, at, reason, this.#options.dataDir);
    try {
      let offset = start;
      let carry = new Uint8Array(0);
      while (offset < end) {
        const chunkStart = offset - carry.length;
        const want = Math.min(READ_CHUNK, end - offset);
        const chunk = new Uint8Array(carry.length + want);
        chunk.set(carry);
        await file.seek(offset, Deno.SeekMode.Start);
        let got = 0;
        while (got < want) {
          const n = await file.read(chunk.subarray(carry.length + got));
          if (n === null) break;
          got += n;
        }
        if (got < want) throw damaged(offset + got, "the file is shorter than its records");
        offset += got;
        let pos = 0;
        const batch: LogRecord[] = [];
        for (;;) {
          const r = parseRecord(chunk, pos);
          if (r.kind === "bad") throw damaged(chunkStart + pos, r.reason);
          if (r.kind !== "record") break;
          pos = r.end;
          if (!wanted(r.record)) continue;
          // Views on this chunk (a fresh buffer per read), not copies.
          if (this.#cipher) r.record.data = this.#cipher.open(r.record.data);
          batch.push(r.record);
        }
        if (batch.length) yield batch;
        carry = chunk.slice(pos, carry.length + got);
      }
      if (carry.length) throw damaged(end - carry.length, "incomplete record");
    } finally {
      file.close();
    }
  }

  #run(task: () => Promise<void>): Promise<void> {
    const done = this.#io.then(task);
    this.#io = done.catch(() => {});
    return done;
  }

  /** Schedules a write of everything queued; appends made meanwhile join the next batch. */
  #flush() {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.#run(async () => {
      this.#flushScheduled = false;
      while (this.#queue.length) {
        const batch = this.#queue.splice(0);
        for (const p of batch) this.#serialize(p);
        await this.#flushBatch(batch);
      }
    });
  }

  async #flushBatch(batch: PendingAppend[]): Promise<void> {
    const started = performance.now();
    try {
      await this.#write(batch);
    } catch (e) {
      await this.#undoWrite(batch, storageError(e, this.#active.path));
      return;
    }
    try {
      await this.#acknowledge(batch);
    } catch (e) {
      // A failed fsync leaves unknown what reached the disk: refuse further appends.
      this.#failure = storageError(e, this.#active.path);
      this.#fail([...batch, ...this.#queue.splice(0)], this.#failure);
      return;
    }
    this.#options.onCommit?.(
      (performance.now() - started) / 1000,
      batch.reduce((n, p) => n + p.records.length, 0),
    );
    // Not awaited: a state write is several file operations (two fsyncs under `always`), and
    // the appends queued behind it waited for them, their fan-out with them (a latency tail).
    if (Date.now() - this.#stateSavedAt >= STATE_EVERY_MS) void this.#saveState();
  }

  async #write(batch: PendingAppend[]) {
    const size = batch.reduce((n, p) => n + p.bytes.length, 0);
    if (this.#active.records > 0 && this.#active.size + size > this.#options.segmentBytes) {
      await this.#roll(batch[0].firstSeq);
    }
    const file = await this.#writable();
    const bytes = batch.length === 1 ? batch[0].bytes : concat(batch.map((p) => p.bytes));
    // A synchronous write: it only copies into the page cache (microseconds), while an async
    // write costs a thread-pool round trip per batch, which dominated small-record appends.
    for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
    this.#indexBatch(batch);
  }

  /**
   * A write failed (disk full, most likely): cut the segment back to its last whole record and
   * hand the failed sequences out again, so appends work once there is room. Everything queued
   * behind the batch fails too (its sequences followed the batch's).
   */
  async #undoWrite(batch: PendingAppend[], error: unknown) {
    this.#fail([...batch, ...this.#queue.splice(0)], error);
    this.#nextSeq = batch[0].firstSeq;
    try {
      await (await this.#writable()).truncate(this.#active.size);
    } catch (e) {
      this.#failure = new CatbusError(
        ErrorCode.Unavailable,
        `cannot cut ${this.#active.path} back to ${this.#active.size} bytes after a failed ` +
          `write (${(e as Error).message}); restart the server`,
        { cause: e },
      );
    }
  }

  async #acknowledge(batch: PendingAppend[]) {
    const policy = this.#options.fsync;
    const records = batch.reduce((n, p) => n + p.records.length, 0);
    if (policy.kind === "always") {
      await this.#sync();
      this.#durable(batch);
    } else {
      this.#durable(batch);
      this.#unsyncedRecords += records;
      if (policy.kind === "every" && this.#unsyncedRecords >= policy.n) await this.#sync();
    }
  }

  #durable(batch: PendingAppend[]) {
    for (const p of batch) p.resolve?.({ firstSeq: p.firstSeq, lastSeq: p.lastSeq });
    this.#options.onDurable?.(batch[batch.length - 1].lastSeq);
  }

  #fail(pending: PendingAppend[], error: unknown) {
    for (const p of pending) p.reject?.(error);
    this.#options.onFailed?.(pending[0].firstSeq, error);
  }

  /**
   * The periodic fsync of `interval`: it runs beside writes (fdatasync and write on one file
   * are safe together), so appends are not held up for the disk; rolls and close wait for it.
   */
  #syncInBackground() {
    if (this.#background || this.#swapping || !this.#unsyncedRecords) return;
    this.#background = this.#syncUnsynced().finally(() => this.#background = undefined);
  }

  async #syncUnsynced() {
    if (!this.#unsyncedRecords) return;
    try {
      await this.#sync();
    } catch (e) {
      this.#failure = e;
    }
  }

  async #sync() {
    this.#unsyncedRecords = 0;
    const started = performance.now();
    await this.#file?.syncData();
    this.#options.onSync?.((performance.now() - started) / 1000);
  }

  /** The active segment's file, opened again if it was closed while idle. Call on the chain. */
  async #writable(): Promise<Deno.FsFile> {
    if (!this.#file) {
      this.#file = await Deno.open(this.#active.path, { write: true, append: true });
    }
    this.#options.openFiles?.touch(this.#holder);
    return this.#file;
  }

  /** Closes the active segment's file for `openFiles` (after an fsync of what it holds). */
  #release(): Promise<void> {
    return this.#run(async () => {
      if (!this.#file) return;
      this.#swapping = true;
      try {
        await this.#background;
        await this.#syncUnsynced();
        this.#closeFile();
      } finally {
        this.#swapping = false;
      }
    });
  }

  #closeFile() {
    this.#file?.close();
    this.#file = undefined;
    this.#options.openFiles?.forget(this.#holder);
  }

  /**
   * Saves the state as it is now — the high-water mark, what was written so far (best effort:
   * it guards against silent loss, it holds no data) — after the saves asked for before it.
   * Fsynced by default only under `always`: with the other policies a machine crash may lose
   * acknowledged records anyway, and a state fsync each second would force out their data.
   */
  #saveState(sync = this.#options.fsync.kind === "always"): Promise<void> {
    this.#stateSavedAt = Date.now();
    this.#state.highWater = Math.max(this.#state.highWater, this.lastSeq);
    const state = structuredClone(this.#state);
    const write = this.#options.writeState ?? writeLogState;
    return this.#stateSaved = this.#stateSaved.then(() =>
      write(this.#options.dir, state, { sync }).catch(() => {})
    );
  }

  #indexBatch(batch: PendingAppend[]) {
    const seg = this.#active;
    let base = seg.size;
    const every = this.#options.indexEvery;
    let lastIndexed = seg.index.lastOffset;
    for (const p of batch) {
      for (const r of p.records) {
        const offset = base + r.offset;
        if (seg.records === 0) {
          seg.firstSeq = r.seq;
          seg.firstTime = r.time;
        }
        if (offset - lastIndexed >= every) {
          seg.index.push(r.seq, offset, r.time);
          lastIndexed = offset;
        }
        seg.lastSeq = r.seq;
        seg.lastTime = r.time;
        seg.records++;
      }
      base += p.bytes.length;
    }
    seg.size = base;
  }

  /**
   * Seals the active segment (fsync, index file) and starts a new one at `baseSeq`. The new file
   * is created before the old one is given up, so a failure leaves the log as it was.
   */
  async #roll(baseSeq: number) {
    this.#swapping = true;
    try {
      await this.#background;
      await (await this.#writable()).syncData();
      const path = segmentPath(this.#options.dir, baseSeq);
      const next = await Deno.open(path, { write: true, append: true, create: true });
      await syncDir(this.#options.dir);
      this.#closeFile();
      this.#file = next;
      // A cache: a segment without one is scanned at open.
      await writeIndexFile(this.#active).catch(() => {});
      this.#sealed.push(this.#active);
      this.#active = emptySegment(path, baseSeq);
      await this.#saveState();
    } finally {
      this.#swapping = false;
    }
  }

  /** Loads sealed segments (index files when valid), recovers the last one, finds losses. */
  async #recover() {
    const dir = this.#options.dir;
    const bases: number[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(SEGMENT_SUFFIX)) bases.push(Number(e.name.slice(0, -4)));
    }
    bases.sort((a, b) => a - b);
    const saved = await readLogState(dir);
    if (!bases.length) bases.push(saved ? Math.max(saved.highWater + 1, saved.firstSeq) : 1);
    for (let i = 0; i < bases.length; i++) {
      const path = segmentPath(dir, bases[i]);
      const last = i === bases.length - 1;
      const size = await Deno.stat(path).then((s) => s.size, () => -1);
      if (size < 0) {
        // The directory holds no segment (new, or emptied): start the one the state expects.
        await Deno.writeFile(path, new Uint8Array(0));
        await syncDir(dir);
        this.#active = emptySegment(path, bases[i]);
        continue;
      }
      const indexed = last ? undefined : await readIndexFile(path, size);
      if (indexed) {
        this.#sealed.push(indexed);
        continue;
      }
      const bytes = await Deno.readFile(path);
      const { info, failure } = scanSegment(bytes, path, bases[i], this.#options.indexEvery);
      if (failure && !(last && failure.torn)) {
        throw new LogCorruptionError(path, failure.offset, failure.reason, this.#options.dataDir);
      }
      if (failure) {
        // A write the crash interrupted: cut it off (it was never acknowledged).
        const f = await Deno.open(path, { write: true });
        await f.truncate(failure.offset);
        await f.syncData();
        f.close();
      }
      if (last) this.#active = info;
      else {
        this.#sealed.push(info);
        await writeIndexFile(info).catch(() => {});
      }
    }
    this.#nextSeq = this.lastSeq + 1;
    const losses = findLosses([...this.#sealed, this.#active], saved);
    const hole = losses.find((l) => l.where === "middle");
    if (hole) throw new LogGapError(dir, hole.fromSeq, hole.toSeq, hole.reason);
    this.#losses = losses;
    this.#state = saved ?? { firstSeq: this.firstSeq || this.#nextSeq, highWater: 0, accepted: [] };
    if (saved) this.#stateSavedAt = Date.now(); // just read: up to date until the next append
    else await this.#saveState();
  }
}

async function openCipher(options: LogOptions): Promise<RecordCipher | undefined> {
  const path = join(options.dir, KEYCHECK);
  const existing = await Deno.readFile(path).catch(() => undefined);
  if (!options.encryption) {
    if (existing) {
      throw new LogKeyError(
        `${options.dir} is encrypted; give the secret it was written with (--encryption-secret)`,
      );
    }
    return undefined;
  }
  const cipher = await RecordCipher.create(options.encryption);
  if (existing) cipher.verifyKeyCheck(existing);
  else {
    for await (const e of Deno.readDir(options.dir)) {
      if (e.name.endsWith(SEGMENT_SUFFIX)) {
        throw new LogKeyError(
          `${options.dir} holds unencrypted data; it cannot be opened with a secret`,
        );
      }
    }
    await writeFileAtomic(path, cipher.keyCheck());
  }
  return cipher;
}
