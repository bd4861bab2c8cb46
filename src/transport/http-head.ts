/** What a request head may hold: the bytes up to the blank line, and the count of header fields. */
export interface HeadLimits {
  maxHeaderBytes: number;
  maxHeaders: number;
}

/** A parsed HTTP/1.x request head, its framing already decided. */
export interface RequestHead {
  method: string;
  /** The request-target as sent: origin-form (`/path?q`), absolute-form or `*`. */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /** Field names lowercased, in the order sent. */
  headers: [string, string][];
  host: string | undefined;
  /** The body's length; -1 for a chunked body. */
  bodyLength: number;
  keepAlive: boolean;
  /** `Expect: 100-continue`: the client waits for a 100 before it sends the body. */
  expectContinue: boolean;
  /** It has an Upgrade header (a WebSocket handshake, say). */
  upgrade: boolean;
}

/** A head that cannot be served: the status to answer with and why (the connection is closed). */
export interface HeadError {
  status: 400 | 414 | 431 | 501 | 505;
  message: string;
}

const CR = 13, LF = 10, SP = 32, HTAB = 9, COLON = 58;

/** tchar of RFC 9110 §5.6.2, by byte. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = TOKEN[c + 32] = 1;

/** Bytes a field value may hold: VCHAR, SP, HTAB and obs-text (no CTL, no DEL). */
const FIELD_VALUE = new Uint8Array(256);
for (let c = 0x20; c <= 0xff; c++) FIELD_VALUE[c] = c === 0x7f ? 0 : 1;
FIELD_VALUE[HTAB] = 1;

/**
 * Where the head ends in `bytes`: the index just past its blank line, or -1 while it is not all
 * there. `from` lets a caller that got more bytes resume the search where it stopped.
 */
export function findHeadEnd(bytes: Uint8Array, from = 0): number {
  for (let i = Math.max(3, from + 3); i < bytes.length; i++) {
    if (
      bytes[i] === LF && bytes[i - 1] === CR && bytes[i - 2] === LF && bytes[i - 3] === CR
    ) return i + 1;
  }
  return -1;
}

/** Leading empty lines before a request line are ignored (RFC 9112 §2.2): how many bytes of them. */
export function leadingBlankLines(bytes: Uint8Array): number {
  let i = 0;
  while (i + 1 < bytes.length && bytes[i] === CR && bytes[i + 1] === LF) i += 2;
  return i;
}

const latin1Decoder = new TextDecoder("latin1");
/** Bytes as ISO-8859-1 text; short ones (most fields) without a decoder call. */
const latin1 = {
  decode: (bytes: Uint8Array): string =>
    bytes.length <= 64
      ? String.fromCharCode.apply(null, bytes as unknown as number[])
      : latin1Decoder.decode(bytes),
};
const fail = (status: HeadError["status"], message: string): HeadError => ({ status, message });

/**
 * Parses a whole request head (request line, fields, blank line: what `findHeadEnd` delimits).
 * Strict where laxness lets two parsers disagree on where a request ends (request smuggling):
 * lines end in CRLF, no obs-fold, no space before a colon, one Content-Length of digits only,
 * never both Content-Length and Transfer-Encoding, and Transfer-Encoding only `chunked`.
 */
export function parseRequestHead(head: Uint8Array, limits: HeadLimits): RequestHead | HeadError {
  if (head.length > limits.maxHeaderBytes) {
    return fail(431, `the request head is over ${limits.maxHeaderBytes} bytes`);
  }
  let pos = 0;
  const lineEnd = () => {
    for (let i = pos; i < head.length; i++) {
      const b = head[i];
      if (b === LF) return head[i - 1] === CR ? i - 1 : -2;
      if (b === CR && head[i + 1] !== LF) return -2;
    }
    return -1;
  };
  // Request line: method SP request-target SP HTTP-version.
  const end = lineEnd();
  if (end < 0) return fail(400, "the request line must end in CRLF");
  let i = pos;
  while (i < end && TOKEN[head[i]]) i++;
  if (i === pos || head[i] !== SP) return fail(400, "malformed request line (method)");
  const method = latin1.decode(head.subarray(pos, i));
  const targetStart = ++i;
  while (i < end && head[i] > SP && head[i] !== 0x7f) i++;
  if (i === targetStart || head[i] !== SP) return fail(400, "malformed request line (target)");
  const target = latin1.decode(head.subarray(targetStart, i));
  const version = latin1.decode(head.subarray(i + 1, end));
  let minor: 0 | 1;
  if (version === "HTTP/1.1") minor = 1;
  else if (version === "HTTP/1.0") minor = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) return fail(505, `${version} is not supported`);
  else return fail(400, "malformed request line (version)");
  if (!(target[0] === "/" || target === "*" || /^https?:\/\//i.test(target))) {
    return fail(400, "the request target must be a path, an absolute URL or *");
  }
  pos = end + 2;

  const headers: [string, string][] = [];
  let host: string | undefined;
  let hosts = 0;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection = "";
  let expect = "";
  let upgrade = false;
  for (;;) {
    const end = lineEnd();
    if (end < 0) return fail(400, "a header line must end in CRLF");
    if (end === pos) break;
    if (head[pos] === SP || head[pos] === HTAB) {
      return fail(400, "folded header lines (obs-fold) are not accepted");
    }
    if (headers.length === limits.maxHeaders) {
      return fail(431, `more than ${limits.maxHeaders} header fields`);
    }
    let i = pos;
    while (i < end && TOKEN[head[i]]) i++;
    if (i === pos || head[i] !== COLON) return fail(400, "malformed header field name");
    const name = latin1.decode(head.subarray(pos, i)).toLowerCase();
    let from = i + 1, to = end;
    while (from < to && (head[from] === SP || head[from] === HTAB)) from++;
    while (to > from && (head[to - 1] === SP || head[to - 1] === HTAB)) to--;
    for (let j = from; j < to; j++) {
      if (!FIELD_VALUE[head[j]]) return fail(400, `control character in header ${name}`);
    }
    const value = latin1.decode(head.subarray(from, to));
    headers.push([name, value]);
    pos = end + 2;
    switch (name) {
      case "host":
        host = value;
        hosts++;
        break;
      case "content-length":
        if (contentLength !== undefined && contentLength !== value) {
          return fail(400, "conflicting Content-Length headers");
        }
        contentLength = value;
        break;
      case "transfer-encoding":
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding},${value}`;
        break;
      case "connection":
        connection += `,${value.toLowerCase()}`;
        break;
      case "expect":
        expect = value.toLowerCase();
        break;
      case "upgrade":
        upgrade = true;
        break;
    }
  }
  if (minor === 1 && hosts !== 1) {
    return fail(
      400,
      hosts ? "more than one Host header" : "an HTTP/1.1 request needs a Host header",
    );
  }
  let bodyLength = 0;
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) {
      return fail(400, "a request may not have both Content-Length and Transfer-Encoding");
    }
    if (minor === 0) return fail(400, "Transfer-Encoding is not allowed in HTTP/1.0");
    if (transferEncoding.trim().toLowerCase() !== "chunked") {
      return fail(501, `Transfer-Encoding ${transferEncoding} is not supported; use chunked`);
    }
    bodyLength = -1;
  } else if (contentLength !== undefined) {
    if (!/^\d{1,15}$/.test(contentLength)) return fail(400, "invalid Content-Length");
    bodyLength = Number(contentLength);
  }
  const tokens = connection.split(",").map((t) => t.trim());
  const keepAlive = minor === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
  return {
    method,
    target,
    minor,
    headers,
    host,
    bodyLength,
    keepAlive,
    expectContinue: minor === 1 && expect === "100-continue",
    upgrade,
  };
}

export const isHeadError = (h: RequestHead | HeadError): h is HeadError => "status" in h;
