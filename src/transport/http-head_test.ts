import assert from "node:assert/strict";
import fc from "fast-check";
import { ChunkedDecoder } from "./http-chunked.ts";
import { findHeadEnd, type HeadError, isHeadError, parseRequestHead } from "./http-head.ts";

const LIMITS = { maxHeaderBytes: 32 * 1024, maxHeaders: 100 };
const bytes = (text: string) => new TextEncoder().encode(text);
const parse = (text: string) => parseRequestHead(bytes(text), LIMITS);
const status = (text: string) => (parse(text) as HeadError).status;

Deno.test("http head - any bytes are parsed or refused with a status, never thrown on", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (input) => {
      const end = findHeadEnd(input);
      const head = parseRequestHead(end < 0 ? input : input.subarray(0, end), LIMITS);
      if (isHeadError(head)) assert.ok([400, 414, 431, 501, 505].includes(head.status));
    }),
    { numRuns: 3000 },
  );
});

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
const value = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);

Deno.test("http head - a well-formed request reads back as sent", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("GET", "POST", "PUT", "DELETE"),
      fc.stringMatching(/^\/[a-z0-9/?=&%._-]{0,40}$/),
      fc.array(fc.tuple(token, value), { maxLength: 20 }),
      (method, target, fields) => {
        const extra = fields.filter(([name]) =>
          !["host", "content-length", "transfer-encoding", "connection", "expect"].includes(name)
        );
        const lines = extra.map(([n, v]) => `${n}: ${v}\r\n`).join("");
        const head = parse(`${method} ${target} HTTP/1.1\r\nHost: h\r\n${lines}\r\n`);
        assert.ok(!isHeadError(head), JSON.stringify(head));
        assert.equal(head.method, method);
        assert.equal(head.target, target);
        assert.deepEqual(head.headers, [["host", "h"], ...extra]);
        assert.equal(head.bodyLength, 0);
        assert.equal(head.keepAlive, true);
      },
    ),
  );
});

Deno.test("http head - request smuggling shapes are refused", () => {
  const h = "POST / HTTP/1.1\r\nHost: x\r\n";
  assert.equal(status(`${h}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n`), 400);
  assert.equal(status(`${h}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n`), 400);
  assert.equal(status(`${h}Content-Length: +3\r\n\r\n`), 400);
  assert.equal(status(`${h}Content-Length: 3, 3\r\n\r\n`), 400);
  assert.equal(status(`${h}Content-Length: 3\r\nContent-Length: 4\r\n\r\n`), 400);
  assert.equal(status(`${h}Transfer-Encoding: gzip, chunked\r\n\r\n`), 501);
  assert.equal(status(`${h}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`), 501);
  assert.equal(status(`${h}X-A: 1\r\n\tfolded\r\n\r\n`), 400);
  assert.equal(status(`${h}Content-Length : 3\r\n\r\n`), 400);
  assert.equal(status(`${h}X-A: 1\nX-B: 2\r\n\r\n`), 400);
  assert.equal(status(`${h}X-A: 1\rX-B: 2\r\n\r\n`), 400);
  assert.equal(status(`GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`), 400);
  assert.equal(status(`POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n`), 400);
  assert.equal(status(`GET / HTTP/2.0\r\nHost: x\r\n\r\n`), 505);
  assert.equal(status(`GET / HTTP/1.1\r\nHost: x\r\n${"a: b\r\n".repeat(101)}\r\n`), 431);
  const ok = parse(`${h}Content-Length: 3\r\nContent-Length: 3\r\n\r\n`);
  assert.ok(!isHeadError(ok) && ok.bodyLength === 3);
  const chunked = parse(`${h}Transfer-Encoding: Chunked\r\n\r\n`);
  assert.ok(!isHeadError(chunked) && chunked.bodyLength === -1);
});

Deno.test("http chunked - a body split anywhere decodes the same; bad framing is an error", () => {
  const body = bytes("5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\nNEXT");
  for (let step = 1; step <= body.length; step++) {
    const decoder = new ChunkedDecoder(1024);
    let text = "";
    let used = 0;
    for (let i = 0; i < body.length && !decoder.done; i += step) {
      const n = decoder.feed(
        body.subarray(i, i + step),
        (p) => text += new TextDecoder().decode(p),
      );
      assert.equal(typeof n, "number");
      used = i + (n as number);
    }
    assert.equal(text, "hello world");
    assert.equal(new TextDecoder().decode(body.subarray(used)), "NEXT");
  }
  assert.equal(typeof new ChunkedDecoder(1024).feed(bytes("zz\r\n"), () => {}), "string");
  assert.equal(typeof new ChunkedDecoder(1024).feed(bytes("1\r\nab\r\n"), () => {}), "string");
  assert.equal(
    typeof new ChunkedDecoder(4).feed(bytes("0\r\nlong: trailer\r\n"), () => {}),
    "string",
  );
});
