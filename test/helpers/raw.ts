/**
 * A bare native-protocol connection for tests that need to send exactly the bytes they choose
 * (malformed frames, clients that never read) and see every frame the server sends back.
 */
import {
  type DecodeEvent,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  parseMeta,
} from "../../client/shared/frame.ts";
import { within } from "./deadline.ts";

/** How long a test waits for a frame or the connection's end before it fails saying what. */
const WAIT_MS = 15_000;

export interface ReceivedFrame extends Frame {
  json: Record<string, unknown>;
}

export class RawConnection {
  readonly conn: Deno.Conn;
  #frames: ReceivedFrame[] = [];
  #waiters: (() => void)[] = [];
  #closed = false;
  #nextId = 1;

  #reading = false;

  private constructor(conn: Deno.Conn, read: boolean) {
    this.conn = conn;
    if (read) this.startReading();
  }

  /** `read: false` makes a client that never reads its socket (a stalled consumer). */
  static async connect(
    port: number,
    options: { read?: boolean } = {},
  ): Promise<RawConnection> {
    return new RawConnection(
      await Deno.connect({ hostname: "127.0.0.1", port }),
      options.read ?? true,
    );
  }

  get closed(): boolean {
    return this.#closed;
  }

  async write(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length;) {
      off += await this.conn.write(bytes.subarray(off));
    }
  }

  /** Sends a frame and returns its id. */
  async send(
    type: number,
    meta?: unknown,
    data?: Uint8Array,
    flags = 0,
  ): Promise<number> {
    const id = this.#nextId++;
    await this.write(encodeFrame(type, id, meta, data, flags));
    return id;
  }

  async hello(token: string): Promise<ReceivedFrame> {
    const id = await this.send(FrameType.Hello, { version: 1, token });
    return await this.reply(id);
  }

  /** The answer (OK, ERROR, WELCOME, PONG) to request `id`. */
  reply(id: number): Promise<ReceivedFrame> {
    return this.next((f) => f.id === id, `the answer to request ${id}`);
  }

  /** Whether a frame matching `predicate` has arrived and is not yet taken (no wait). */
  has(predicate: (f: ReceivedFrame) => boolean): boolean {
    return this.#frames.some(predicate);
  }

  /** Waits for (and removes) the first frame matching `predicate`; fails after `ms`. */
  next(
    predicate: (f: ReceivedFrame) => boolean,
    what = "the expected frame",
    ms = WAIT_MS,
  ): Promise<ReceivedFrame> {
    let late = false;
    return within(this.#next(predicate, () => late), ms, what).catch((e) => {
      late = true; // so a frame that comes after all is left for the next wait
      throw e;
    });
  }

  async #next(
    predicate: (f: ReceivedFrame) => boolean,
    late: () => boolean,
  ): Promise<ReceivedFrame> {
    for (;;) {
      if (late()) return new Promise(() => {});
      const i = this.#frames.findIndex(predicate);
      if (i >= 0) return this.#frames.splice(i, 1)[0];
      if (this.#closed) {
        throw new Error("connection closed before the expected frame arrived");
      }
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  /** Resolves when the server closes the connection; fails after `ms`. */
  untilClosed(ms = WAIT_MS): Promise<void> {
    return within(
      (async () => {
        while (!this.#closed) await new Promise<void>((r) => this.#waiters.push(r));
      })(),
      ms,
      "the server closing the connection",
    );
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  /** Starts reading the socket (for connections made with `read: false`). */
  async startReading() {
    if (this.#reading) return;
    this.#reading = true;
    const decoder = new FrameDecoder({ maxFrameBytes: 64 << 20 });
    const onEvent = (e: DecodeEvent) => {
      if (e.kind !== "frame") {
        throw new Error(`server sent an undecodable stream: ${e.kind}`);
      }
      const f = {
        ...e.frame,
        meta: e.frame.meta.slice(),
        data: e.frame.data.slice(),
      };
      this.#frames.push({ ...f, json: parseMeta(f) });
    };
    try {
      for await (const chunk of this.conn.readable) {
        decoder.push(chunk, onEvent);
        this.#wake();
      }
    } catch { /* closed */ }
    this.#closed = true;
    this.#wake();
  }

  #wake() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const r of w) r();
  }
}

export const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
