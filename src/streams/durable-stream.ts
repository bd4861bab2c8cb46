import type { BusMessage } from "../core/message.ts";
import type { AppendRequest, EngineStream, StreamListener } from "../core/stream-engine.ts";
import { Log, type LogOptions } from "../log/log.ts";
import type { LogLoss } from "../log/log-state.ts";
import { readStreamMeta, writeStreamMeta } from "./stream-meta.ts";
import { ChannelPurges } from "./channel-purges.ts";
import { decodeStored, encodeAppended, toBusMessage } from "./record.ts";
import { LogRecords } from "./log-records.ts";

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
  /** Hears of every message once it is durable (or failed). */
  listener?: StreamListener;
}

/**
 * One namespace's stream on the log engine: messages as log records, an epoch that survives
 * restarts (kept in `stream.json`, see stream-meta.ts), retention by whole segments and purged
 * channels as tombstones (channel-purges.ts). The log numbers the messages (the one sequence
 * authority) and batches the writes; its durable watermark releases them to the listener in
 * sequence order.
 */
export class DurableStream implements EngineStream {
  readonly epoch: string;
  readonly log: Log;
  readonly #retention?: RetentionPolicy;
  readonly #listener?: StreamListener;
  readonly #purges: ChannelPurges;
  #segments: number;
  #retaining?: Promise<unknown>;
  /** Messages appended and not yet durable, oldest first. */
  #unsettled: BusMessage[] = [];
  #durableSeq: number;

  private constructor(epoch: string, log: Log, purges: ChannelPurges, options: StreamOptions) {
    this.epoch = epoch;
    this.log = log;
    this.#purges = purges;
    this.#retention = options.retention;
    this.#listener = options.listener;
    this.#segments = log.segmentCount;
    this.#durableSeq = log.lastSeq;
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
    let stream: DurableStream | undefined;
    const log = await Log.open({
      ...logOptions,
      dir,
      onDurable: (seq) => {
        if (stream) stream.#durable(seq);
      },
      onFailed: (seq, error) => {
        if (stream) stream.#failed(seq, error);
      },
    });
    const purges = await ChannelPurges.open(dir);
    const losses = log.losses;
    if (!losses.length) return stream = new DurableStream(meta.epoch, log, purges, options);
    const renewed = await writeStreamMeta(dir, options.name ?? meta.name);
    await log.acceptLosses();
    options.onLoss?.(losses, { from: meta.epoch, to: renewed.epoch });
    return stream = new DurableStream(renewed.epoch, log, purges, options);
  }

  get firstSeq(): number {
    return this.log.firstSeq;
  }

  /** The durable watermark: every message up to it was handed to the listener. */
  get lastSeq(): number {
    return this.#durableSeq;
  }

  /** The log's segments on disk. */
  get bytes(): number {
    return this.log.bytes;
  }

  /** The log numbers the batch at once; the watermark tells when it is durable. */
  append(batch: AppendRequest[]): void {
    const records = batch.map(({ message, key }) => ({
      time: message.time,
      data: encodeAppended(message, key),
    }));
    let seq: number;
    try {
      seq = this.log.enqueue(records);
    } catch (e) {
      return this.#listener?.failed(batch.map((r) => r.message.id), e);
    }
    for (const { message } of batch) {
      message.epoch = this.epoch;
      message.seq = seq++;
      this.#unsettled.push(message);
    }
  }

  #durable(seq: number) {
    this.#durableSeq = seq;
    let n = 0;
    while (n < this.#unsettled.length && this.#unsettled[n].seq <= seq) n++;
    if (n) this.#listener?.durable(this.#unsettled.splice(0, n));
    this.#afterAppend();
  }

  /** Everything from `seq` on failed (the log gives those sequences out again). */
  #failed(seq: number, error: unknown) {
    const at = this.#unsettled.findIndex((m) => m.seq >= seq);
    if (at < 0) return;
    const failed = this.#unsettled.splice(at);
    this.#listener?.failed(failed.map((m) => m.id), error);
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

  /** Every stored message from `fromSeq` on but purged ones; expired ones too (readers skip them). */
  async *read(fromSeq: number): AsyncGenerator<BusMessage[]> {
    const purges = this.#purges;
    for await (const records of this.log.readBatches(fromSeq)) {
      const batch = records.map((r) =>
        toBusMessage(decodeStored(r.data), this.epoch, r.seq, r.time)
      );
      yield purges.size ? batch.filter((m) => !purges.covers(m.channel, m.seq)) : batch;
    }
  }

  /** A tombstone, on disk before this resolves; the records go with their segment. */
  purgeChannel(channel: string, throughSeq: number): Promise<void> {
    return this.#purges.add(channel, throughSeq);
  }

  /** `read` as the records' bytes, for replays that copy them (see LogRecords). */
  async *readRecords(fromSeq: number): AsyncGenerator<LogRecords> {
    const purges = this.#purges;
    for await (const records of this.log.readBatches(fromSeq)) {
      const all = new LogRecords(records, this.epoch);
      if (!purges.size) {
        yield all;
        continue;
      }
      const kept = records.filter((_, i) => !purges.covers(all.channel(i), all.seq(i)));
      yield kept.length === records.length ? all : new LogRecords(kept, this.epoch);
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
      if (!stored.key || this.#purges.covers(stored.channel, r.seq)) continue;
      keys.set(stored.key, toBusMessage(stored, this.epoch, r.seq, r.time));
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
    await this.#purges.forgetBefore(this.firstSeq);
    return this.firstSeq;
  }

  async close(): Promise<void> {
    await this.#purges.settled();
    await this.log.close();
  }
}
