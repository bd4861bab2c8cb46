import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import type { AppendRequest, StreamListener } from "../../core/stream-engine.ts";
import { encodeAppended } from "../record.ts";
import { purgeNotice } from "../purge-notice.ts";
import { type Entry, SharedStream } from "../shared-stream.ts";
import type { Head, StreamQueries } from "./queries.ts";

/** Most records one catbus_publish call takes. */
const PUBLISH_BATCH = 1000;

export interface PostgresStreamOptions {
  /** How long the engine remembers a dedupe key, ms (0 = dedupe off). */
  dedupeWindowMs: number;
  /** False while the engine cannot be reached: appends fail at once. */
  available(): boolean;
  /** A statement failed: the engine finds out whether PostgreSQL is still reachable. */
  failed(error: unknown): void;
  /** Where failures that only the operator can act on go. */
  warn(message: string, fields: Record<string, unknown>): void;
}

const unavailable = (e: unknown) =>
  new CatbusError(
    ErrorCode.Unavailable,
    `the stream engine (PostgreSQL) did not confirm the publish: ${(e as Error).message ?? e}; ` +
      "retry it (a publish with a dedupe key is stored once)",
    { cause: e },
  );

const unreachable = new CatbusError(
  ErrorCode.Unavailable,
  "the stream engine (PostgreSQL) is unreachable; retry shortly (a publish with a dedupe key is " +
    "stored once)",
);

const lost = new CatbusError(
  ErrorCode.Unavailable,
  "the stream engine (PostgreSQL) lost these messages before they were delivered (its data was " +
    "restored or removed); publish them again",
);

/**
 * One namespace's stream in PostgreSQL, shared by every node. catbus_publish numbers and stores
 * each batch and rings the namespace's doorbell at commit; this node hands the listener every
 * message in sequence order (SharedStream) — its own (from catbus_publish's answer, once
 * committed), other nodes' and SQL publishers' (read as `seq > last` on the doorbell, or on the
 * engine's poll). Sequences are gap-free in commit order, so a read after a commit sees
 * everything before it.
 */
export class PostgresStream extends SharedStream {
  readonly name: string;
  readonly #queries: StreamQueries;
  readonly #options: PostgresStreamOptions;
  #queue: AppendRequest[] = [];
  /** One catbus_publish at a time, so this node's appends are numbered in the order made. */
  #sending = false;

  /** `fromBase`: another node just created the namespace, so its whole epoch is handed over. */
  constructor(
    name: string,
    queries: StreamQueries,
    listener: StreamListener,
    options: PostgresStreamOptions,
    head: Head,
    fromBase: boolean,
  ) {
    super(
      listener,
      {
        where: { namespace: name },
        lost,
        warn: options.warn,
        failed: options.failed,
      },
      head,
      fromBase,
    );
    this.name = name;
    this.#queries = queries;
    this.#options = options;
  }

  append(batch: AppendRequest[]): void {
    if (!this.#options.available()) {
      this.sending(batch);
      return this.failOwn(batch.map((r) => r.message.id), unreachable);
    }
    this.sending(batch);
    if (!this.#queue.length && !this.#sending) queueMicrotask(() => this.#send());
    this.#queue.push(...batch);
  }

  /** Sends the queue, one call at a time; what is appended meanwhile goes in the next call. */
  async #send(): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      while (this.#queue.length) {
        const chunk = this.#queue.splice(0, PUBLISH_BATCH);
        const records = chunk.map(({ message, key }) => encodeAppended(message, key));
        try {
          const answer = await this.#queries.publish(
            this.name,
            records,
            this.#options.dedupeWindowMs,
            this.known,
          );
          this.appended(chunk, answer);
        } catch (e) {
          this.#options.failed(e);
          this.failOwn(chunk.map((r) => r.message.id), unavailable(e));
        }
      }
    } finally {
      this.#sending = false;
    }
  }

  /** The doorbell rang (or the connection came back): reads whatever follows. */
  rang(): void {
    this.fill(Infinity);
  }

  /**
   * The engine's poll found this epoch and top (undefined: no row): the same epoch reads up to
   * the top; anything else asks for the head, which starts a new epoch if data was lost.
   */
  async polled(found: { epoch: string; top: number } | undefined): Promise<void> {
    if (found && found.epoch === this.epoch && found.top >= this.lastSeq) {
      return this.fill(found.top);
    }
    const head = await this.#queries.head(this.name, this.known);
    if (this.observe(head)) this.fill(head.top);
  }

  /** Retention: drops messages before `seq`. */
  async trimBefore(seq: number): Promise<void> {
    this.firstSeq = await this.#queries.trimBefore(this.name, seq);
  }

  /** Deletes the channel's rows; every node (this one too) hears the notice on the doorbell. */
  async purgeChannel(channel: string, throughSeq: number): Promise<void> {
    await this.#queries.purge(this.name, channel, throughSeq, purgeNotice(channel, throughSeq));
  }

  /** After partitions were dropped: the oldest message left. */
  async refreshFirst(): Promise<void> {
    this.firstSeq = await this.#queries.resetFirst(this.name);
  }

  protected range(from: number, to: number, count: number): Promise<Entry[]> {
    return this.#queries.range(this.name, from, to, count);
  }

  protected newest(to: number, count: number): Promise<Entry[]> {
    return this.#queries.newest(this.name, to, count);
  }

  protected firstAtOrAfter(time: number): Promise<number> {
    return this.#queries.seekTime(this.name, time);
  }
}
