import { concat } from "../../client/shared/bytes.ts";

/**
 * What a door reads of a request: a WHATWG `Request` has all of it, and so has the transport's
 * `IncomingRequest`, so code written against this takes either.
 */
export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  /** Aborted when the client goes before its answer (a long-poll). */
  readonly signal: AbortSignal;
  readonly body: ReadableStream<Uint8Array> | null;
  bytes(): Promise<Uint8Array>;
}

/** The fields of a request as the head parser gave them (names lowercased, in order). */
export class RequestFields {
  readonly pairs: [string, string][];

  constructor(pairs: [string, string][]) {
    this.pairs = pairs;
  }

  /** The field's values joined with ", " (as `Headers.get`), or null. */
  get(name: string): string | null {
    const wanted = name.toLowerCase();
    let value: string | null = null;
    for (const [n, v] of this.pairs) {
      if (n === wanted) value = value === null ? v : `${value}, ${v}`;
    }
    return value;
  }
}

/** Methods fetch uppercases whatever their case (RFC 9110 methods are case-sensitive otherwise). */
const NORMALIZED = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
/** Methods a WHATWG Request refuses. */
const FORBIDDEN = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * A request as the transport parsed it, handed to a door without building a WHATWG `Request`
 * (its Headers, its body stream, a second signal): what `serveLeanHttpDoor` gives its handler.
 * Checked as a `Request` would be (its URL, a forbidden method); `toRequest()` builds the WHATWG
 * one for the doors that take those.
 */
export class IncomingRequest implements HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: RequestFields;
  readonly signal: AbortSignal;
  #bytes?: Uint8Array<ArrayBuffer>;
  #stream?: ReadableStream<Uint8Array>;
  #used = false;

  /** `body`: the whole body as bytes (it came with the head), a stream, or none. */
  constructor(
    url: string,
    init: {
      method: string;
      headers: [string, string][];
      body?: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>;
      signal: AbortSignal;
    },
  ) {
    const upper = init.method.toUpperCase();
    if (FORBIDDEN.has(upper)) throw new TypeError(`method ${init.method} is not allowed`);
    this.method = NORMALIZED.has(upper) ? upper : init.method;
    this.url = new URL(url).href;
    this.headers = new RequestFields(init.headers);
    this.signal = init.signal;
    if (init.body instanceof Uint8Array) this.#bytes = init.body;
    else this.#stream = init.body;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#stream === undefined && this.#bytes !== undefined) {
      const bytes = this.#bytes;
      this.#stream = new ReadableStream({
        start(controller) {
          controller.enqueue(bytes);
          controller.close();
        },
      });
    }
    return this.#stream ?? null;
  }

  /** The whole body (empty when there is none); like a Request's, it can be read once. */
  async bytes(): Promise<Uint8Array> {
    if (this.#used) throw new TypeError("the request body was already read");
    this.#used = true;
    if (this.#stream === undefined) return this.#bytes ?? new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.#stream) chunks.push(chunk);
    return concat(chunks);
  }

  /** The same request as a WHATWG `Request` (its body handed over). */
  toRequest(): Request {
    return new Request(this.url, {
      method: this.method,
      headers: this.headers.pairs,
      body: this.#stream ?? this.#bytes,
      signal: this.signal,
    });
  }
}
