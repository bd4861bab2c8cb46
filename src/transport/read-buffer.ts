/**
 * The buffer a connection reads into. Most connections sit idle with a read pending (an open
 * WebSocket), and a pending read holds its buffer, so the buffer starts small; a read that fills
 * it means more is waiting (an upload, a flood of messages), and the next read borrows a large
 * buffer from a pool shared by all connections, given back after the first read that does not
 * fill it. Whatever a reader keeps of the bytes read must be copied out before its next read.
 */

/** What an idle connection's pending read holds. */
const IDLE_READ_BYTES = 256;
/** The buffer of a connection that has more waiting. */
const BURST_READ_BYTES = 64 * 1024;
/** Burst buffers kept for reuse once given back; more are allocated when many burst at once. */
const POOL_MAX = 16;
const pool: Uint8Array[] = [];

export class ReadBuffer {
  #idle?: Uint8Array;
  #burst?: Uint8Array;

  /** The buffer for the next read. */
  get next(): Uint8Array {
    return this.#burst ?? (this.#idle ??= new Uint8Array(IDLE_READ_BYTES));
  }

  /** After a read of `n` bytes into `next` (and their use): picks the next read's buffer. */
  read(n: number): void {
    const full = n === this.next.length;
    if (full && !this.#burst) this.#burst = pool.pop() ?? new Uint8Array(BURST_READ_BYTES);
    else if (!full && this.#burst) this.release();
  }

  /** Gives the burst buffer back (the connection ended, or its burst did). */
  release(): void {
    if (this.#burst && pool.length < POOL_MAX) pool.push(this.#burst);
    this.#burst = undefined;
  }
}
