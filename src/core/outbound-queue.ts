import { concat } from "../../client/shared/bytes.ts";

/**
 * Where a connection's bytes go: a transport-specific writer. `write` may return a promise that
 * settles once the transport can take more (TCP write completed, WebSocket buffer drained).
 */
export interface FrameSink {
  write(batch: Uint8Array): void | Promise<void>;
}

export interface OutboundQueueOptions {
  /** Bytes that may wait (queued plus in flight) before droppable pushes are refused. */
  maxBytes: number;
  /** Largest batch handed to the sink in one write. */
  maxBatchBytes?: number;
  /** A write failed (the queue is closed by then). Called on the options object: a method works. */
  onError?(error: unknown): void;
}

/**
 * A connection's bounded outbound queue, measured in bytes. Frames pushed in the same tick
 * leave in one write (one syscall, one WebSocket message), which is what makes small messages
 * cheap: per-write overhead, not bandwidth, is the limit.
 */
export class OutboundQueue {
  /** Frames waiting; undefined when none (an idle connection keeps no array). */
  #chunks?: Uint8Array[];
  #queuedBytes = 0;
  #inFlight = 0;
  #writing = false;
  #scheduled = false;
  #closed = false;
  /** Made when someone waits (most queues of idle connections never are). */
  #drainWaiters?: (() => void)[];
  readonly #sink: FrameSink;
  readonly #options: OutboundQueueOptions;
  readonly #max: number;
  readonly #maxBatch: number;

  constructor(sink: FrameSink, options: OutboundQueueOptions) {
    this.#sink = sink;
    this.#options = options;
    this.#max = options.maxBytes;
    this.#maxBatch = options.maxBatchBytes ?? 256 * 1024;
  }

  /** Bytes waiting or being written. */
  get pendingBytes(): number {
    return this.#queuedBytes + this.#inFlight;
  }

  get maxBytes(): number {
    return this.#max;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * For a producer that paces itself (a replay): undefined while the queue is below its limit,
   * else a promise that resolves once the client has read half of it.
   */
  room(): Promise<void> | undefined {
    return this.pendingBytes < this.#max ? undefined : this.drained(this.#max / 2);
  }

  /**
   * Queues `bytes`. A droppable push (a message to a plain subscriber) is refused when it would
   * exceed the limit; control frames (answers, errors, notices) always go in.
   */
  push(bytes: Uint8Array, droppable: boolean): boolean {
    if (this.#closed) return false;
    if (droppable && this.pendingBytes + bytes.length > this.#max) return false;
    (this.#chunks ??= []).push(bytes);
    this.#queuedBytes += bytes.length;
    if (!this.#scheduled && !this.#writing) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
    return true;
  }

  /** Resolves once pending bytes fall to `threshold` or below (or the queue closes). */
  drained(threshold = 0): Promise<void> {
    if (this.pendingBytes <= threshold || this.#closed) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const check = () => {
        if (this.pendingBytes <= threshold || this.#closed) resolve();
        else (this.#drainWaiters ??= []).push(check);
      };
      (this.#drainWaiters ??= []).push(check);
    });
  }

  /** Stops writing; queued bytes are discarded. */
  close(): void {
    this.#closed = true;
    this.#chunks = undefined;
    this.#queuedBytes = 0;
    this.#notifyDrain();
  }

  async #flush() {
    this.#scheduled = false;
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#chunks !== undefined && !this.#closed) {
        const batch = this.#takeBatch();
        this.#inFlight = batch.length;
        const done = this.#sink.write(batch);
        if (done) await done;
        this.#inFlight = 0;
        this.#notifyDrain();
      }
    } catch (e) {
      this.#inFlight = 0;
      this.close();
      this.#options.onError?.(e);
    } finally {
      this.#writing = false;
    }
  }

  #takeBatch(): Uint8Array {
    const chunks = this.#chunks!;
    let n = 0, size = 0;
    while (n < chunks.length && (n === 0 || size + chunks[n].length <= this.#maxBatch)) {
      size += chunks[n++].length;
    }
    let parts = chunks;
    if (n === chunks.length) this.#chunks = undefined;
    else parts = chunks.splice(0, n);
    this.#queuedBytes -= size;
    if (parts.length === 1) return parts[0];
    return concat(parts);
  }

  #notifyDrain() {
    const waiters = this.#drainWaiters;
    if (waiters === undefined) return;
    this.#drainWaiters = undefined;
    for (const w of waiters) w();
  }
}
