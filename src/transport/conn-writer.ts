import { concat } from "../../client/shared/bytes.ts";

/** Where a connection's bytes go: Deno.Conn and Deno.TlsConn alike. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<number>;
}

/** What a failed write closes. */
export interface Closable {
  close(): void;
}

/**
 * Writes to a connection in order. What is queued within one tick goes out in one write (one
 * system call for a burst of small frames or responses); `buffered` counts the bytes not yet
 * taken by the kernel, and `drained()` waits until none are.
 */
export class ConnWriter {
  readonly #sink: ByteSink;
  readonly #connection: Closable;
  /** What waits for the next write; undefined when nothing does (an idle connection). */
  #parts?: Uint8Array[];
  #buffered = 0;
  #writing = false;
  #failed = false;
  #drainWaiters?: (() => void)[];

  /** `connection` is closed when a write fails. */
  constructor(sink: ByteSink, connection: Closable) {
    this.#sink = sink;
    this.#connection = connection;
  }

  /** Bytes queued and not yet written. */
  get buffered(): number {
    return this.#buffered;
  }

  get failed(): boolean {
    return this.#failed;
  }

  /** Queues `bytes`, which the caller must not change afterwards (copy first if it might). */
  write(bytes: Uint8Array): void {
    if (this.#failed || bytes.length === 0) return;
    (this.#parts ??= []).push(bytes);
    this.#buffered += bytes.length;
    if (!this.#writing) {
      this.#writing = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Resolves once every byte queued so far was written, or the connection failed. */
  drained(): Promise<void> {
    if (!this.#writing || this.#failed) return Promise.resolve();
    return new Promise((resolve) => (this.#drainWaiters ??= []).push(resolve));
  }

  async #flush() {
    for (let parts = this.#parts; parts !== undefined; parts = this.#parts) {
      this.#parts = undefined;
      const batch = parts.length === 1 ? parts[0] : concat(parts);
      try {
        for (let off = 0; off < batch.length;) {
          off += await this.#sink.write(off ? batch.subarray(off) : batch);
        }
      } catch {
        this.#fail();
        return;
      }
      this.#buffered -= batch.length;
    }
    this.#writing = false;
    this.#wakeDrainWaiters();
  }

  #wakeDrainWaiters() {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = undefined;
    for (const w of waiters ?? []) w();
  }

  #fail() {
    this.#failed = true;
    this.#parts = undefined;
    this.#buffered = 0;
    this.#writing = false;
    this.#wakeDrainWaiters();
    this.#connection.close();
  }
}
