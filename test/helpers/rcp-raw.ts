/**
 * An RCP client written from rstmdb's wire format, for tests that must send exactly the bytes
 * they choose: its own frame encoder and CRC-32C, no code from src/sm.
 */
import assert from "node:assert/strict";
import { within } from "./deadline.ts";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});
function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface FrameOptions {
  version?: number;
  flags?: number;
  extension?: Uint8Array;
  crc?: number;
  magic?: string;
}

export function frame(payload: Uint8Array, o: FrameOptions = {}): Uint8Array {
  const ext = o.extension ?? new Uint8Array(0);
  const out = new Uint8Array(18 + ext.length + payload.length);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode(o.magic ?? "RCPX"));
  v.setUint16(4, o.version ?? 1);
  v.setUint16(6, o.flags ?? 1);
  v.setUint16(8, ext.length);
  v.setUint32(10, payload.length);
  v.setUint32(14, o.crc ?? crc32c(payload));
  out.set(ext, 18);
  out.set(payload, 18 + ext.length);
  return out;
}

export const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
export const request = (id: string, op: string, params: unknown = {}) =>
  json({ type: "request", id, op, params });

/** A raw connection that parses the server's frames itself. */
export class Raw {
  readonly conn: Deno.TcpConn;
  #buf = new Uint8Array(0);
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  jsonl = false;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.#reader = conn.readable.getReader();
  }

  static async open(port: number) {
    return new Raw(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async send(bytes: Uint8Array) {
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#buf.length < n) {
      const { value, done } = await this.#reader.read();
      if (done) return false;
      const next = new Uint8Array(this.#buf.length + value.length);
      next.set(this.#buf);
      next.set(value, this.#buf.length);
      this.#buf = next;
    }
    return true;
  }

  /** The next message, or undefined when the server closed the connection; fails after `ms`. */
  next(ms = 15_000): Promise<{ flags: number; message: Record<string, unknown> } | undefined> {
    return within(this.#read(), ms, "the next RCP message");
  }

  async #read(): Promise<{ flags: number; message: Record<string, unknown> } | undefined> {
    if (this.jsonl) {
      for (;;) {
        const nl = this.#buf.indexOf(0x0a);
        if (nl >= 0) {
          const line = this.#buf.subarray(0, nl);
          this.#buf = this.#buf.slice(nl + 1);
          return { flags: 0, message: JSON.parse(new TextDecoder().decode(line)) };
        }
        if (!await this.#fill(this.#buf.length + 1)) return undefined;
      }
    }
    if (!await this.#fill(18)) return undefined;
    const v = new DataView(this.#buf.buffer, this.#buf.byteOffset);
    assert.equal(new TextDecoder().decode(this.#buf.subarray(0, 4)), "RCPX");
    assert.equal(v.getUint16(4), 1);
    const flags = v.getUint16(6);
    assert.ok(flags & 1, "the server always sets CRC_PRESENT");
    const total = 18 + v.getUint16(8) + v.getUint32(10);
    const crc = v.getUint32(14);
    if (!await this.#fill(total)) return undefined;
    const payload = this.#buf.slice(18 + v.getUint16(8), total);
    this.#buf = this.#buf.slice(total);
    assert.equal(crc32c(payload), crc, "payload CRC");
    return { flags, message: JSON.parse(new TextDecoder().decode(payload)) };
  }

  async response(): Promise<Record<string, unknown>> {
    for (;;) {
      const got = await this.next();
      assert.ok(got, "connection closed");
      if (got.message.type === "response") return got.message;
    }
  }

  close() {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

export const code = (r: Record<string, unknown>) =>
  (r.error as { code: string } | undefined)?.code ?? r.status;
