import { concat } from "../../../client/shared/bytes.ts";
import { MAX_PAYLOAD_BYTES } from "./frame.ts";

/**
 * The `jsonl` wire mode: one JSON message per line. Like the frame decoder it is pure, and an
 * over-long line is skipped up to its newline (the next boundary) rather than ending the stream.
 */
export type LineEvent =
  | { kind: "line"; payload: Uint8Array }
  | { kind: "rejected"; code: "BAD_REQUEST"; message: string };

const NEWLINE = 0x0a;
const newline = new Uint8Array([NEWLINE]);

export function encodeLine(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out.set(payload);
  out.set(newline, payload.length);
  return out;
}

/** Pull-style like FrameDecoder: `push`, then `next()` until undefined. */
export class LineDecoder {
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;
  /** Chunks without a newline, joined once one arrives (a long line is copied once). */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** Inside an over-long line: drop bytes up to the next newline. */
  #skipping = false;

  push(chunk: Uint8Array): void {
    if (chunk.indexOf(NEWLINE) < 0) {
      if (!this.#skipping) {
        this.#pending.push(chunk);
        this.#pendingBytes += chunk.length;
      }
      return;
    }
    const rest = this.#buf.subarray(this.#pos);
    this.#buf = concat([rest, ...this.#pending, chunk]);
    this.#pos = 0;
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  /** Unparsed bytes, handed over when the wire mode changes. */
  rest(): Uint8Array {
    const rest = concat([this.#buf.subarray(this.#pos), ...this.#pending]);
    this.#buf = new Uint8Array(0);
    this.#pos = 0;
    this.#pending = [];
    this.#pendingBytes = 0;
    return rest;
  }

  next(): LineEvent | undefined {
    for (;;) {
      const nl = this.#buf.indexOf(NEWLINE, this.#pos);
      if (nl < 0) {
        const unfinished = this.#buf.length - this.#pos + this.#pendingBytes;
        if (this.#skipping || unfinished <= MAX_PAYLOAD_BYTES) return undefined;
        this.#skipping = true;
        this.#buf = new Uint8Array(0);
        this.#pos = 0;
        this.#pending = [];
        this.#pendingBytes = 0;
        return {
          kind: "rejected",
          code: "BAD_REQUEST",
          message: `line longer than ${MAX_PAYLOAD_BYTES} bytes; skipped to its end`,
        };
      }
      const line = this.#buf.subarray(this.#pos, nl);
      this.#pos = nl + 1;
      if (this.#skipping) {
        this.#skipping = false;
        continue;
      }
      const end = line.length && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
      if (end > 0) return { kind: "line", payload: line.slice(0, end) };
    }
  }
}
