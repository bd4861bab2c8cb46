import { CatbusError, ErrorCode } from "../shared/errors.ts";
import { encodeFrame, type Frame } from "../shared/frame.ts";
import type { TransportConnection } from "./transport.ts";

interface Pending {
  /** Takes the message frames answering this request (a history page). */
  collect?(frame: Frame): void;
  resolve(meta: Record<string, unknown>): void;
  reject(error: CatbusError): void;
  /** performance.now() after which the request fails with `timeout`. */
  deadline: number;
}

/**
 * The requests of a connection waiting for their answer, by frame id. One timer sweeps the
 * expired ones: a timer per request costs more than the request.
 */
export class PendingRequests {
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #sweep?: ReturnType<typeof setInterval>;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Sends a request frame over `conn`; resolves with the answer's meta. */
  send(
    conn: TransportConnection,
    type: number,
    meta: unknown,
    data?: Uint8Array,
    flags = 0,
    collect?: (frame: Frame) => void,
  ): Promise<Record<string, unknown>> {
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    return new Promise((resolve, reject) => {
      const deadline = performance.now() + this.#timeoutMs;
      this.#pending.set(id, { resolve, reject, deadline, collect });
      conn.send(encodeFrame(type, id, meta, data, flags));
    });
  }

  /** A message frame answering request `frame.id` (a history page's messages). */
  collect(frame: Frame): void {
    this.#pending.get(frame.id)?.collect?.(frame);
  }

  resolve(id: number, meta: Record<string, unknown>): void {
    this.#take(id)?.resolve(meta);
  }

  reject(id: number, error: CatbusError): void {
    this.#take(id)?.reject(error);
  }

  /** A connection is open: expired requests fail with `timeout` from now on. */
  startSweeping(): void {
    this.#sweep = setInterval(
      () => this.#sweepTimeouts(),
      Math.max(10, Math.min(1000, this.#timeoutMs / 4)),
    );
  }

  /** The connection is gone: stops sweeping, and every waiting request fails with `error`. */
  end(error: CatbusError): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(error);
    }
  }

  #take(id: number): Pending | undefined {
    const p = this.#pending.get(id);
    this.#pending.delete(id);
    return p;
  }

  #sweepTimeouts() {
    const now = performance.now();
    for (const [id, p] of this.#pending) {
      if (p.deadline > now) continue;
      this.#pending.delete(id);
      p.reject(
        new CatbusError(
          ErrorCode.Timeout,
          `no answer from the server within ${this.#timeoutMs} ms`,
        ),
      );
    }
  }
}
