/**
 * A lean keep-alive HTTP/1.1 client over `Deno.connect` for load generators: one request at a
 * time per connection, the request written in one write, the response framed by its
 * Content-Length or its chunks. `fetch` costs the client more per request than a small server
 * spends answering it, so a sequential benchmark through it measures the client.
 */

import { concat } from "../client/shared/bytes.ts";

const encoder = new TextEncoder();
const CR = 13, LF = 10;
const READ_SIZE = 64 * 1024;

export interface HttpAnswer {
  status: number;
  body: Uint8Array;
}

/** Index just past the first CRLFCRLF of `bytes` at or after `from`, or -1. */
function headEnd(bytes: Uint8Array, from: number): number {
  for (let i = Math.max(3, from + 3); i < bytes.length; i++) {
    if (bytes[i] === LF && bytes[i - 2] === LF && bytes[i - 1] === CR && bytes[i - 3] === CR) {
      return i + 1;
    }
  }
  return -1;
}

/** The body of a chunked response whose chunks start at `from`, or undefined while incomplete. */
function dechunk(bytes: Uint8Array, from: number): { body: Uint8Array; end: number } | undefined {
  const parts: Uint8Array[] = [];
  let pos = from;
  for (;;) {
    let line = pos;
    while (line + 1 < bytes.length && !(bytes[line] === CR && bytes[line + 1] === LF)) line++;
    if (line + 1 >= bytes.length) return undefined;
    const size = parseInt(String.fromCharCode(...bytes.subarray(pos, line)), 16);
    const start = line + 2;
    if (size === 0) {
      if (bytes.length < start + 2) return undefined;
      return { body: concat(parts), end: start + 2 };
    }
    if (bytes.length < start + size + 2) return undefined;
    parts.push(bytes.subarray(start, start + size));
    pos = start + size + 2;
  }
}

export class HttpClient {
  readonly #conn: Deno.TcpConn;
  readonly #fields: string;
  #buffer = new Uint8Array(READ_SIZE);
  #length = 0;

  private constructor(conn: Deno.TcpConn, fields: string) {
    this.#conn = conn;
    this.#fields = fields;
  }

  /** A connection to `url`'s host; `headers` go with every request. */
  static async connect(url: string, headers: Record<string, string> = {}): Promise<HttpClient> {
    const { hostname, port, host } = new URL(url);
    const conn = await Deno.connect({ hostname, port: Number(port) });
    conn.setNoDelay(true);
    const fields = Object.entries({ host, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    return new HttpClient(conn, fields);
  }

  /** Sends one request and reads its whole response. */
  async request(method: string, path: string, body?: Uint8Array): Promise<HttpAnswer> {
    const head = `${method} ${path} HTTP/1.1\r\n${this.#fields}content-length: ${
      body?.length ?? 0
    }\r\n\r\n`;
    const out = new Uint8Array(head.length + (body?.length ?? 0));
    encoder.encodeInto(head, out);
    if (body) out.set(body, head.length);
    for (let off = 0; off < out.length;) off += await this.#conn.write(out.subarray(off));
    return await this.#response();
  }

  /** POSTs `value` as JSON. */
  post(path: string, value: unknown): Promise<HttpAnswer> {
    return this.request("POST", path, encoder.encode(JSON.stringify(value)));
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #response(): Promise<HttpAnswer> {
    let scanned = 0;
    let end = -1;
    while ((end = headEnd(this.#buffer.subarray(0, this.#length), scanned)) < 0) {
      scanned = Math.max(0, this.#length - 3);
      await this.#fill();
    }
    const head = String.fromCharCode(...this.#buffer.subarray(0, end)).toLowerCase();
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/.exec(head);
    let body: Uint8Array;
    let used: number;
    if (length) {
      used = end + Number(length[1]);
      while (this.#length < used) await this.#fill();
      body = this.#buffer.slice(end, used);
    } else if (head.includes("\r\ntransfer-encoding: chunked")) {
      let whole;
      while (!(whole = dechunk(this.#buffer.subarray(0, this.#length), end))) await this.#fill();
      body = whole.body;
      used = whole.end;
    } else {
      throw new Error(`a response with neither a length nor chunks:\n${head}`);
    }
    this.#buffer.copyWithin(0, used, this.#length);
    this.#length -= used;
    return { status, body };
  }

  /** Reads more of the response, growing the buffer when it is full. */
  async #fill() {
    if (this.#length === this.#buffer.length) {
      const bigger = new Uint8Array(this.#buffer.length * 2);
      bigger.set(this.#buffer);
      this.#buffer = bigger;
    }
    const n = await this.#conn.read(this.#buffer.subarray(this.#length));
    if (n === null) throw new Error("the server closed the connection");
    this.#length += n;
  }
}
