import { join } from "node:path";
import { CatbusError, ErrorCode } from "../core/errors.ts";
import { randomId } from "../core/ids.ts";
import type { BusMessage } from "../core/message.ts";
import type { NamespaceStorage, StoreOptions } from "../core/namespace.ts";
import { type AppendInput, Log, type LogOptions } from "../log/log.ts";
import { decodeStored, encodeStored, toBusMessage } from "./record.ts";

/** How long and how much a namespace keeps. 0 means no limit. */
export interface RetentionPolicy {
  maxAgeMs: number;
  maxMessages: number;
  maxBytes: number;
}

/**
 * One namespace's stream on the log engine: messages as log records, an epoch that survives
 * restarts (kept in `stream.json`), TTL filtering on read, and retention by whole segments.
 */
export class DurableStream implements NamespaceStorage {
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

  static async open(
    dir: string,
    logOptions: Omit<LogOptions, "dir">,
    retention?: RetentionPolicy,
  ): Promise<DurableStream> {
    await Deno.mkdir(dir, { recursive: true });
    const metaPath = join(dir, "stream.json");
    let epoch: string;
    try {
      epoch = JSON.parse(await Deno.readTextFile(metaPath)).epoch;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      epoch = randomId(8);
      await Deno.writeTextFile(
        metaPath,
        JSON.stringify({ epoch, created: new Date().toISOString() }) + "\n",
      );
    }
    return new DurableStream(epoch, await Log.open({ ...logOptions, dir }), retention);
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
    this.log.append(batch).then(({ firstSeq }) => {
      if (firstSeq !== batch[0].seq) {
        // The broker and the log number in the same order; a mismatch is a bug, never data.
        const error = new CatbusError(
          ErrorCode.Internal,
          `log sequence ${firstSeq} != message ${batch[0].seq}`,
        );
        for (const p of batch) p.reject(error);
        return;
      }
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

  async *read(fromSeq: number): AsyncGenerator<BusMessage[]> {
    const now = Date.now();
    for await (const records of this.log.readBatches(fromSeq)) {
      const batch: BusMessage[] = [];
      for (const r of records) {
        const stored = decodeStored(r.data);
        if (stored.expiresAt && stored.expiresAt <= now) continue;
        batch.push(toBusMessage(stored, this.epoch, r.seq, r.time));
      }
      yield batch;
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
