import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { randomId } from "../../core/ids.ts";
import type { AppendRequest, StreamListener } from "../../core/stream-engine.ts";
import { encodeAppended } from "../record.ts";
import { purgeNotice } from "../purge-notice.ts";
import { type Entry, SharedStream } from "../shared-stream.ts";
import type { Head, ValkeyCommands } from "./commands.ts";
import type { NamespaceKeys } from "./keys.ts";
import type { LiveBatch } from "./live-batch.ts";

/** Most messages one append script takes (Lua's unpack has a stack limit). */
const SCRIPT_BATCH = 1000;

export interface ValkeyStreamOptions {
  /** How long the engine remembers a dedupe key, ms (0 = dedupe off). */
  dedupeWindowMs: number;
  /** Approximate most entries kept by every append (0 = no limit). */
  maxLen: number;
  /** Where failures that only the operator can act on go. */
  warn(message: string, fields: Record<string, unknown>): void;
  /** The stream started a new epoch (the engine lost data). */
  renewed(): void;
}

const unavailable = (e: unknown) =>
  new CatbusError(
    ErrorCode.Unavailable,
    `the stream engine (Valkey) did not confirm the publish: ${(e as Error).message ?? e}; ` +
      "retry it (a publish with a dedupe key is stored once)",
    { cause: e },
  );

const lost = new CatbusError(
  ErrorCode.Unavailable,
  "the stream engine (Valkey) lost these messages before they were delivered (it restarted " +
    "without persistence); publish them again",
);

/**
 * One namespace's stream in Valkey, shared by every node. The append script numbers and stores
 * each batch and publishes it on the namespace's live channel; this node hands the listener
 * every message in sequence order (SharedStream) — its own (from the script's answer), other
 * nodes' (from the live channel) and any it missed (read from the stream: a gap, a stalled
 * subscription).
 */
export class ValkeyStream extends SharedStream {
  readonly #commands: ValkeyCommands;
  readonly #keys: NamespaceKeys;
  readonly #options: ValkeyStreamOptions;
  #queue: AppendRequest[] = [];

  constructor(
    commands: ValkeyCommands,
    keys: NamespaceKeys,
    listener: StreamListener,
    options: ValkeyStreamOptions,
    head: Head,
    fromBase: boolean,
  ) {
    super(
      listener,
      {
        where: { stream: keys.stream },
        lost,
        warn: options.warn,
        renewed: options.renewed,
      },
      head,
      fromBase,
    );
    this.#commands = commands;
    this.#keys = keys;
    this.#options = options;
  }

  get keys(): NamespaceKeys {
    return this.#keys;
  }

  /** Queued and sent as one script with every append made in the same turn. */
  append(batch: AppendRequest[]): void {
    this.sending(batch);
    if (!this.#queue.length) queueMicrotask(() => this.#flush());
    this.#queue.push(...batch);
  }

  #flush(): void {
    const queue = this.#queue;
    this.#queue = [];
    const { dedupeWindowMs, maxLen } = this.#options;
    for (let i = 0; i < queue.length; i += SCRIPT_BATCH) {
      const chunk = queue.slice(i, i + SCRIPT_BATCH);
      const items = chunk.map(({ message, key }) => ({
        key: key !== undefined && dedupeWindowMs > 0 ? this.#keys.dedupe(key) : undefined,
        data: encodeAppended(message, key),
      }));
      this.#commands.append(this.#keys, randomId(8), this.known, { dedupeWindowMs, maxLen }, items)
        .then(
          (answer) => this.appended(chunk, answer),
          (e) => this.failOwn(chunk.map((r) => r.message.id), unavailable(e)),
        );
    }
  }

  /** Another node's (or this node's) batch, from the live channel. */
  live(batch: LiveBatch): void {
    if (!this.observe(batch)) return;
    for (const entry of batch.entries) this.accept(entry);
    this.drain();
  }

  /** Compares with the engine's head: a new epoch, or a top not seen (a stalled subscription). */
  async check(): Promise<void> {
    // The common case (same epoch, top not below what was seen) is one HMGET; the script that
    // may start a new epoch runs only when something is off.
    const peek = await this.#commands.peek(this.#keys);
    if (peek && peek.epoch === this.epoch && peek.top >= this.lastSeq) {
      return this.fill(peek.top);
    }
    const head = await this.#commands.ensure(this.#keys, randomId(8), this.known);
    if (this.observe(head)) this.fill(head.top);
  }

  /** Retention: drops entries before `seq`. */
  async trimBefore(seq: number): Promise<void> {
    this.firstSeq = await this.#commands.trimBefore(this.#keys, seq);
  }

  /** XDELs the channel's entries; every node (this one too) hears the notice on the live channel. */
  async purgeChannel(channel: string, throughSeq: number): Promise<void> {
    await this.#commands.purge(this.#keys, channel, throughSeq, purgeNotice(channel, throughSeq));
  }

  protected range(from: number, to: number, count: number): Promise<Entry[]> {
    return this.#commands.range(this.#keys.stream, from, Number.isFinite(to) ? to : "+", count);
  }

  protected newest(to: number, count: number): Promise<Entry[]> {
    return this.#commands.newest(this.#keys.stream, to, count);
  }

  protected firstAtOrAfter(time: number): Promise<number> {
    return this.#commands.seekTime(this.#keys.stream, time);
  }
}
