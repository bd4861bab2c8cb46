import { isIP } from "node:net";
import { connect as connectTls } from "node:tls";
import type { SmErrorBody } from "../../sm/errors.ts";
import { encodeFrame, FrameDecoder } from "./frame.ts";
import { encodeLine, LineDecoder } from "./jsonl.ts";
import type { WireMode } from "./session.ts";

/**
 * A small RCP client (used by `catbus sm`, the benchmark and tests): HELLO on connect, AUTH
 * when a token is given, pipelined requests matched by id, events (and a subscription's `end`)
 * to a callback.
 */
export interface RcpClientOptions {
  hostname: string;
  port: number;
  token?: string;
  /** TLS through node:tls; `insecure` skips server verification (development only). */
  tls?: { ca?: string; cert?: string; key?: string; insecure?: boolean; servername?: string };
  wireMode?: WireMode;
  /** HELLO features to ask for (e.g. `lifecycle_events`). */
  features?: string[];
  clientName?: string;
  onEvent?: (event: Record<string, unknown>) => void;
  /** The connection ended (by either side). */
  onClose?: () => void;
}

/** An error response from the server. */
export class RcpRequestError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details?: Record<string, unknown>;
  constructor(body: SmErrorBody) {
    super(body.message);
    this.name = "RcpRequestError";
    this.code = body.code;
    this.retryable = body.retryable;
    this.details = body.details;
  }
}

interface ByteStream {
  write(bytes: Uint8Array): Promise<void>;
  close(): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class RcpClient {
  readonly #stream: ByteStream;
  readonly #options: RcpClientOptions;
  readonly #pending = new Map<string, PromiseWithResolvers<Record<string, unknown>>>();
  #mode: WireMode = "binary_json";
  #frames = new FrameDecoder();
  #lines = new LineDecoder();
  #nextId = 1;
  #closed = false;
  /** What HELLO answered. */
  hello: Record<string, unknown> = {};

  private constructor(stream: ByteStream, options: RcpClientOptions) {
    this.#stream = stream;
    this.#options = options;
  }

  static async connect(options: RcpClientOptions): Promise<RcpClient> {
    // The stream exists before the client does; nothing arrives before HELLO is sent.
    let client: RcpClient | undefined;
    const receive = (chunk: Uint8Array) => client && client.#receive(chunk);
    const closed = () => client && client.#onClosed();
    const stream = options.tls
      ? await openTls(options, options.tls, receive, closed)
      : await openTcp(options, receive, closed);
    const c = client = new RcpClient(stream, options);
    try {
      c.hello = await c.request("HELLO", {
        protocol_version: 1,
        client_name: options.clientName ?? "catbus-sm",
        wire_modes: [options.wireMode ?? "binary_json"],
        features: options.features ?? [],
      });
      c.#mode = c.hello.wire_mode as WireMode;
      if (options.token !== undefined) {
        await c.request("AUTH", { method: "bearer", token: options.token });
      }
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a request and resolves with its result (rejects with RcpRequestError). */
  request(op: string, params: unknown = {}): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(new Error("the RCP connection is closed"));
    const id = String(this.#nextId++);
    const waiter = Promise.withResolvers<Record<string, unknown>>();
    this.#pending.set(id, waiter);
    const payload = encoder.encode(JSON.stringify({ type: "request", id, op, params }));
    this.#stream.write(this.#mode === "jsonl" ? encodeLine(payload) : encodeFrame(payload))
      .catch((e) => this.#failAll(e));
    return waiter.promise;
  }

  close(): void {
    this.#stream.close();
    this.#onClosed();
  }

  #receive(chunk: Uint8Array) {
    if (this.#mode === "jsonl") this.#lines.push(chunk);
    else this.#frames.push(chunk);
    for (;;) {
      const mode = this.#mode;
      const ev = mode === "jsonl" ? this.#lines.next() : this.#frames.next();
      if (!ev) return;
      if (ev.kind === "fatal" || ev.kind === "rejected") {
        this.#failAll(new Error(`bad data from the server: ${ev.message}`));
        return this.close();
      }
      this.#onMessage(JSON.parse(decoder.decode(ev.payload)));
    }
  }

  #onMessage(message: Record<string, unknown>) {
    if (message.type === "event" || message.type === "end") {
      return this.#options.onEvent?.(message);
    }
    const waiter = this.#pending.get(String(message.id));
    if (!waiter) return;
    this.#pending.delete(String(message.id));
    if (message.status === "ok") waiter.resolve(message.result as Record<string, unknown>);
    else waiter.reject(new RcpRequestError(message.error as SmErrorBody));
  }

  #failAll(e: unknown) {
    for (const w of this.#pending.values()) w.reject(e);
    this.#pending.clear();
  }

  #onClosed() {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new Error("the RCP connection closed"));
    this.#options.onClose?.();
  }
}

async function openTcp(
  options: RcpClientOptions,
  receive: (chunk: Uint8Array) => void,
  closed: () => void,
): Promise<ByteStream> {
  const conn = await Deno.connect({ hostname: options.hostname, port: options.port });
  conn.setNoDelay(true);
  (async () => {
    try {
      for await (const chunk of conn.readable) receive(chunk);
    } catch { /* closed */ }
    closed();
  })();
  return {
    write: async (bytes) => {
      for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    },
    close: () => {
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  };
}

function openTls(
  options: RcpClientOptions,
  tls: NonNullable<RcpClientOptions["tls"]>,
  receive: (chunk: Uint8Array) => void,
  closed: () => void,
): Promise<ByteStream> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({
      host: options.hostname,
      port: options.port,
      // SNI takes host names only; for an address the certificate is still checked against it.
      servername: tls.servername ?? (isIP(options.hostname) ? undefined : options.hostname),
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: !tls.insecure,
    }, () => {
      socket.off("error", reject);
      socket.on("error", () => socket.destroy());
      resolve({
        write: (bytes) =>
          new Promise((done, fail) => socket.write(bytes, (e) => e ? fail(e) : done())),
        close: () => socket.destroy(),
      });
    });
    socket.setNoDelay(true);
    socket.once("error", reject);
    socket.on("data", (chunk: Uint8Array) => receive(new Uint8Array(chunk)));
    socket.on("close", closed);
  });
}
