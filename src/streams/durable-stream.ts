import type { BusMessage } from "../core/message.ts";
import type { EngineStream, StoreOptions } from "../core/stream-engine.ts";
import { type AppendInput, Log, type LogOptions } from "../log/log.ts";
import type { LogLoss } from "../log/log-state.ts";
import { readStreamMeta, writeStreamMeta } from "./stream-meta.ts";
import { decodeStored, encodeStored, toBusMessage } from "./record.ts";

/** How long and how much a namespace keeps. 0 means no limit. */
export interface RetentionPolicy {
  maxAgeMs: number;
  maxMessages: number;
  maxBytes: number;
}

export interface StreamOptions {
  /** The namespace, kept in `stream.json` (its directory name may be a hash). */
  name?: string;
  retention?: RetentionPolicy;
  /** The log lost records it held; the stream started a new epoch. */
  onLoss?: (losses: readonly LogLoss[], epochs: { from: string; to: string }) => void;
}

/**
 * One namespace's stream on the log engine: messages as log records, an epoch that survives
 * restarts (kept in `stream.json`, see stream-meta.ts) and retention by whole segments.
 */
export class DurableStream implements EngineStream {
  readonly epoch: string;
  readonly log: Log;
  readonly #retention?: RetentionPolicy;
  #segments: number;
  #retaining?: Promise<unknown>;
  /** Appends of this tick, not yet handed to the log. */
  #batch: (AppendInput & { seq: number; resolve(): void; reject(e: unknown): void })[] = [];

  private constructor(epoch: string, log: Log, retention?: RetentionPolicy) {
    this.epoch = epoch;
    this.log = log;
    this.#retention = retention;
    this.#segments = log.segmentCount;
  }

  /**
   * Opens (or creates) the stream in `dir`. When the log lost records it held (see `Log.losses`),
   * the stream starts a new epoch, so resuming clients are told instead of silently missing
   * them.
   */
  static async open(
    dir: string,
    logOptions: Omit<LogOptions, "dir">,
    options: StreamOptions = {},
  ): Promise<DurableStream> {
    await Deno.mkdir(dir, { recursive: true });
    const meta = await readStreamMeta(dir) ?? await writeStreamMeta(dir, options.name);
    const log = await Log.open({ ...logOptions, dir });
    const losses = log.losses;
    if (!losses.length) return new DurableStream(meta.epoch, log, options.retention);
    const renewed = await writeStreamMeta(dir, options.name ?? meta.name);
    await log.acceptLosses();
    options.onLoss?.(losses, { from: meta.epoch, to: renewed.epoch });
    return new DurableStream(renewed.epoch, log, options.retention);
  }

  get firstSeq(): number {
    return this.log.firstSeq;
  }

  get lastSeq(): number {
    return this.log.lastSeq;
  }

  /**
   * Appends are collected for the rest of the tick and handed to the log together: one log
   * append (one record buffer, one promise) per batch instead of per message.
   */
  append(message: BusMessage, options: StoreOptions): Promise<void> {
    const data = encodeStored({
      channel: message.channel,
      id: message.id,
      binary: message.binary,
      payload: message.payload,
      headers: message.headers,
      expiresAt: options.expiresAt ?? 0,
      key: options.key ?? "",
    });
    return new Promise((resolve, reject) => {
      const pending = { data, time: message.time, seq: message.seq, resolve, reject };
      if (this.#batch.push(pending) === 1) queueMicrotask(() => this.#appendBatch());
    });
  }

  #appendBatch() {
    const batch = this.#batch;
    this.#batch = [];
    // The broker and the log number in the same order; the log refuses a batch out of step.
    this.log.append(batch, batch[0].seq).then(() => {
      for (const p of batch) p.resolve();
      this.#afterAppend();
    }, (e) => {
      for (const p of batch) p.reject(e);
    });
  }

  #afterAppend() {
    // A new segment is the moment whole segments may fall out of the count and size limits.
    const segments = this.log.segmentCount;
    if (segments !== this.#segments && this.#retention && !this.#retaining) {
      this.#segments = segments;
      this.#retaining = this.applyRetention(this.#retention).finally(() =>
        this.#retaining = undefined
      );
    }
  }

  /** Every stored message from `fromSeq` on, expired ones too (readers filter them). */
  async *read(fromSeq: number): AsyncGenerator<BusMessage[]> {
    for await (const records of this.log.readBatches(fromSeq)) {
      yield records.map((r) => toBusMessage(decodeStored(r.data), this.epoch, r.seq, r.time));
    }
  }

  seekTime(time: number): Promise<number> {
    return this.log.seekTime(time);
  }

  async tail(n: number): Promise<BusMessage[]> {
    const out: BusMessage[] = [];
    if (n <= 0 || this.lastSeq === 0) return out;
    for await (const batch of this.read(Math.max(1, this.lastSeq - n + 1))) out.push(...batch);
    return out;
  }

  async recentKeys(since: number): Promise<Map<string, BusMessage>> {
    const keys = new Map<string, BusMessage>();
    for await (const r of this.log.readIter(await this.log.seekTime(since))) {
      const stored = decodeStored(r.data);
      if (stored.key) keys.set(stored.key, toBusMessage(stored, this.epoch, r.seq, r.time));
    }
    return keys;
  }

  /**
   * Drops whole segments that are entirely past a limit (age, count or bytes); returns the
   * messages' new first sequence. Granularity is one segment, so up to a segment more than the
   * limits may be kept.
   */
  async applyRetention(policy: RetentionPolicy, now = Date.now()): Promise<number> {
    let cutoff = 0;
    if (policy.maxMessages > 0) cutoff = Math.max(cutoff, this.lastSeq - policy.maxMessages + 1);
    if (policy.maxAgeMs > 0) {
      cutoff = Math.max(cutoff, await this.log.seekTime(now - policy.maxAgeMs));
    }
    if (policy.maxBytes > 0) {
      let bytes = this.log.bytes;
      for (const seg of this.log.segments()) {
        if (bytes <= policy.maxBytes) break;
        bytes -= seg.size;
        cutoff = Math.max(cutoff, seg.lastSeq + 1);
      }
    }
    // Never delete the newest message: the stream's position must survive restarts.
    cutoff = Math.min(cutoff, this.lastSeq);
    if (cutoff > this.firstSeq) await this.log.truncateBefore(cutoff);
    return this.firstSeq;
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
