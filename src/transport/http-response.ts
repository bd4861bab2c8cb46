import { concat } from "../../client/shared/bytes.ts";
import type { ConnWriter } from "./conn-writer.ts";

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");

/** Above this many bytes not yet taken by the kernel, a streamed body is read no further. */
const STREAM_HIGH_WATER = 64 * 1024;

const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  414: "URI Too Long",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** Framing is ours to decide: these response headers from a handler are not copied. */
const FRAMING = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);

let dateSecond = 0;
let dateLine = "";
/** The `date` header line, formatted once a second. */
function date(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateLine;
}

/** A header field as bytes: field values are ISO-8859-1 (a Headers object holds only those). */
function latin1(text: string): Uint8Array {
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(text)) return encoder.encode(text);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** A field value a WholeAnswer may carry: no CR, LF or other control character but HTAB. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Field records checked already (a door's constant ones are checked once). */
const checkedFields = new WeakSet<object>();
const NO_FIELDS: Record<string, string> = {};

/**
 * A whole response without a WHATWG `Response`: its body is text (or none) now, and its fields a
 * plain record (lowercase names). Built and written with no `Headers`, no body stream and nothing
 * read back, for a door's hot path (a publish's receipt); a handler may return one wherever it
 * returns a `Response`.
 */
export class WholeAnswer {
  readonly status: number;
  readonly body: string | null;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, body: string | null, headers: Record<string, string> = NO_FIELDS) {
    if (!checkedFields.has(headers)) {
      for (const [name, value] of Object.entries(headers)) {
        if (!FIELD_VALUE.test(value)) throw new TypeError(`invalid value of header ${name}`);
      }
      checkedFields.add(headers);
    }
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/** What a handler answers: a `Response`, or a `WholeAnswer`. */
export type Answer = Response | WholeAnswer;

/**
 * The status line and fields of a response, with `framing` (length or chunked, connection), and
 * `body` after them in the same buffer (one write).
 */
export function encodeHead(
  status: number,
  headers: Headers | Readonly<Record<string, string>> | undefined,
  framing: string,
  body?: Uint8Array,
): Uint8Array {
  let text = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n${date()}`;
  if (headers) {
    const fields = headers instanceof Headers ? headers : Object.entries(headers);
    for (const [name, value] of fields) if (!FRAMING.has(name)) text += `${name}: ${value}\r\n`;
  }
  text += framing + "\r\n";
  if (!body) return latin1(text);
  // deno-lint-ignore no-control-regex
  if (!/^[\x00-\x7f]*$/.test(text)) return concat([latin1(text), body]);
  const out = new Uint8Array(text.length + body.length);
  encoder.encodeInto(text, out);
  out.set(body, text.length);
  return out;
}

/** A whole small response the server answers by itself (errors, refusals): JSON, then close. */
export function plainAnswer(status: number, code: string, message: string): Uint8Array {
  const body = encoder.encode(JSON.stringify({ code, message }) + "\n");
  return encodeHead(
    status,
    new Headers({ "content-type": "application/json" }),
    `content-length: ${body.length}\r\nconnection: close\r\n`,
    body,
  );
}

export interface ResponseTarget {
  writer: ConnWriter;
  /** HTTP/1.0 clients get no chunked bodies: a streamed body ends with the connection. */
  minor: 0 | 1;
  /** A HEAD request: fields only. */
  head: boolean;
  /** The connection may carry another request after this one (the client's wish and ours). */
  keepAlive: boolean;
  /** Settles when the connection closes: a streamed body is then cancelled. */
  closed: Promise<void>;
}

const noBody = (status: number) => status === 204 || status === 304 || status < 200;

/**
 * Responses whose body was whole when they were built (text, bytes or none): sent with a
 * Content-Length. Every other body is streamed as it comes, so a live stream (an event stream, a
 * door's ReadableStream) is never held back until it ends, whoever built it and however it is
 * labelled. Whether a body is a stream cannot be read from a Response (Deno turns a text body into
 * a stream when asked), so the place that builds a whole one says so: `wholeResponse`.
 */
const whole = new WeakSet<Response>();

/** A response whose body is complete now: sent in one write with its Content-Length. */
export function wholeResponse(
  body: string | Uint8Array<ArrayBuffer> | null,
  init?: ResponseInit,
): Response {
  const response = new Response(body, init);
  whole.add(response);
  return response;
}

/** A copy of `response` with other headers, whole if it was (its body is taken over). */
export function withResponseHeaders(response: Response, headers: Headers): Response {
  const copy = new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
  if (whole.has(response)) whole.add(copy);
  return copy;
}

const asksToClose = (connection: string | null | undefined) =>
  /(^|,)\s*close\s*(,|$)/i.test(connection ?? "");

/** Writes a WholeAnswer: its head and body in one write. */
function writeWholeAnswer(answer: WholeAnswer, to: ResponseTarget): boolean {
  const keepAlive = to.keepAlive && !asksToClose(answer.headers.connection);
  const connection = keepAlive ? "" : "connection: close\r\n";
  if (to.head || noBody(answer.status)) {
    to.writer.write(encodeHead(answer.status, answer.headers, connection));
    return keepAlive;
  }
  const body = encoder.encode(answer.body ?? "");
  const framing = `content-length: ${body.length}\r\n${connection}`;
  to.writer.write(encodeHead(answer.status, answer.headers, framing, body));
  return keepAlive;
}

/**
 * Writes `response`. A body built whole (`wholeResponse`, a WholeAnswer) or none goes with a
 * Content-Length, in one write with the head; any other body goes chunked as it is produced, read
 * only as fast as the client takes it. Returns whether the connection may carry another request.
 */
export async function writeResponse(response: Answer, to: ResponseTarget): Promise<boolean> {
  if (response instanceof WholeAnswer) return writeWholeAnswer(response, to);
  const { writer } = to;
  const status = response.status;
  let keepAlive = to.keepAlive && !asksToClose(response.headers.get("connection"));
  const connection = keepAlive ? "" : "connection: close\r\n";
  const isWhole = whole.has(response);
  if (to.head || noBody(status)) {
    // A whole body is left unread; a stream is told nobody reads it.
    if (!isWhole) response.body?.cancel().catch(() => {});
    writer.write(encodeHead(status, response.headers, connection));
    return keepAlive;
  }
  if (isWhole) {
    // Read without touching `response.body`: that getter would wrap a static body in a stream.
    const body = await response.bytes();
    const framing = `content-length: ${body.length}\r\n${connection}`;
    writer.write(encodeHead(status, response.headers, framing, body));
    return keepAlive;
  }
  if (response.body === null) {
    writer.write(encodeHead(status, response.headers, `content-length: 0\r\n${connection}`));
    return keepAlive;
  }
  const reader = response.body.getReader();
  const closed = to.closed.then(() => "closed" as const);
  let next = reader.read();
  // A stream: chunked (HTTP/1.1), or until the connection closes (HTTP/1.0).
  const chunked = to.minor === 1;
  if (!chunked) keepAlive = false;
  writer.write(
    encodeHead(
      status,
      response.headers,
      chunked ? `transfer-encoding: chunked\r\n${connection}` : "connection: close\r\n",
    ),
  );
  const send = (part: Uint8Array) => {
    if (part.length === 0) return;
    if (chunked) writer.write(encoder.encode(part.length.toString(16) + "\r\n"));
    writer.write(part);
    if (chunked) writer.write(CRLF);
  };
  for (;;) {
    if (writer.buffered > STREAM_HIGH_WATER) await Promise.race([writer.drained(), closed]);
    const result = writer.failed ? "closed" : await Promise.race([next, closed]);
    if (result === "closed") {
      reader.cancel().catch(() => {});
      return false;
    }
    if (result.done) break;
    send(result.value);
    next = reader.read();
  }
  if (chunked) writer.write(LAST_CHUNK);
  return keepAlive;
}
