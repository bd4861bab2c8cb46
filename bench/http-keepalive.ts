/**
 * Keep-alive HTTP/1.1 requests against a running server, one request in flight per connection:
 * `deno run -A bench/http-keepalive.ts http://127.0.0.1:4433/health [connections] [seconds]`.
 * Prints one JSON line: requests per second and how many responses were chunked. Used to A/B the
 * HTTP server (src/transport/http-response.ts) on `GET /health`.
 */
const [target, connsArg = "8", secondsArg = "5"] = Deno.args;
if (!target) {
  console.error("usage: http-keepalive.ts URL [connections] [seconds]");
  Deno.exit(2);
}
const url = new URL(target);
const request = new TextEncoder().encode(
  `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n\r\n`,
);
const decoder = new TextDecoder();
const deadline = Date.now() + Number(secondsArg) * 1000;
let requests = 0;
let chunked = 0;

/** Index just past one whole response at the start of `text`, or -1 when more is needed. */
function responseEnd(text: string): number {
  const head = text.indexOf("\r\n\r\n");
  if (head < 0) return -1;
  const fields = text.slice(0, head).toLowerCase();
  const length = /\r\ncontent-length: *(\d+)/.exec(fields);
  if (length) {
    const end = head + 4 + Number(length[1]);
    return text.length >= end ? end : -1;
  }
  if (fields.includes("transfer-encoding: chunked")) {
    const last = text.indexOf("\r\n0\r\n\r\n", head);
    if (last < 0) return -1;
    chunked++;
    return last + 7;
  }
  throw new Error(`a response with neither length nor chunks:\n${fields}`);
}

async function run(): Promise<void> {
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  const buffer = new Uint8Array(64 * 1024);
  let pending = "";
  while (Date.now() < deadline) {
    await conn.write(request);
    for (;;) {
      const end = responseEnd(pending);
      if (end >= 0) {
        pending = pending.slice(end);
        break;
      }
      const n = await conn.read(buffer);
      if (n === null) throw new Error("the server closed the connection");
      pending += decoder.decode(buffer.subarray(0, n));
    }
    requests++;
  }
  conn.close();
}

const started = performance.now();
await Promise.all(Array.from({ length: Number(connsArg) }, run));
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ requests, chunked, rps: Math.round(requests / seconds) }));
