/**
 * The buffer a connection reads into. Most connections sit idle with a read pending (an open
 * WebSocket), and a pending read holds its buffer, so the buffer starts small; a read that fills
 * it means more is waiting (an upload, a flood of messages), and the next read borrows a large
 * buffer from a pool shared by all connections, given back after the first read that does not
 * fill it. Whatever a reader keeps of the bytes read must be copied out before its next read.
 */

/** What an idle connection's pending read holds. */
const IDLE_READ_BYTES = 256;
/**
 * The idle read of a connection whose requests outgrow IDLE_READ_BYTES (a bearer token takes a
 * head past it): a keep-alive client sends the next one alike, which then comes in one read.
 */
const REQUEST_READ_BYTES = 2048;
/** The buffer of a connection that has more waiting. */
const BURST_READ_BYTES = 64 * 1024;
/** Burst buffers kept for reuse once given back; more are allocated when many burst at once. */
const POOL_MAX = 16;
const pool: Uint8Array[] = [];

export class ReadBuffer {
  #idle?: Uint8Array;
  #burst?: Uint8Array;
  #roomy = false;

  /** The buffer for the next read. */
  get next(): Uint8Array {
    return this.#burst ?? (this.#idle ??= new Uint8Array(IDLE_READ_BYTES));
  }

  /** After a read of `n` bytes into `next` (and their use): picks the next read's buffer. */
  read(n: number): void {
    const full = n === this.next.length;
    if (full && !this.#burst) this.#burst = pool.pop() ?? new Uint8Array(BURST_READ_BYTES);
    else if (!full && this.#burst) this.release();
    if (this.#roomy && (this.#idle?.length ?? 0) < REQUEST_READ_BYTES) {
      this.#idle = new Uint8Array(REQUEST_READ_BYTES);
    }
  }

  /**
   * The connection carries requests of `bytes` (head and body), and more like them (not a
   * WebSocket's handshake: that connection then sits idle): past the idle read's size, its idle
   * reads grow to REQUEST_READ_BYTES from the next `read` on (a read may be pending in `next`).
   */
  expect(bytes: number): void {
    if (bytes > IDLE_READ_BYTES) this.#roomy = true;
  }

  /** Gives the burst buffer back (the connection ended, or its burst did). */
  release(): void {
    if (this.#burst && pool.length < POOL_MAX) pool.push(this.#burst);
    this.#burst = undefined;
  }
}
