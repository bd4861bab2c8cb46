import assert from "node:assert/strict";
import { WebSocket as NodeWebSocket } from "ws";
import { encodeFrame, FrameDecoder, FrameType } from "../client/shared/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { startPulsar } from "./helpers/pulsar.ts";
import { within } from "./helpers/deadline.ts";

const WAIT_MS = 20_000;
const encoder = new TextEncoder();
const portOf = (url: string) => Number(new URL(url).port);
const connect = (url: string) => Deno.connect({ hostname: "127.0.0.1", port: portOf(url) });

/** Everything the server sends until it closes the connection (within WAIT_MS). */
async function readUntilClosed(conn: Deno.Conn, what: string): Promise<string> {
  const chunks: string[] = [];
  const buffer = new Uint8Array(4096);
  const decoder = new TextDecoder();
  const reading = (async () => {
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) return;
      chunks.push(decoder.decode(buffer.subarray(0, n)));
    }
  })();
  await within(reading, WAIT_MS, what);
  return chunks.join("");
}

/**
 * A request every door answers at once: /health on the native door; on Bus a subscribe without
 * a subject (400, "subject is required"). The status, or 0 when the request failed.
 */
async function served(url: string, bus = false): Promise<number> {
  const response = await fetch(`${url}${bus ? "/" : "/health"}`, {
    headers: { connection: "close" },
  }).catch(() => undefined);
  await response?.body?.cancel();
  return response?.status ?? 0;
}

const doors = (server: { httpUrl: string; busUrl: string }) => [
  { url: server.httpUrl, bus: false, ok: 200 },
  { url: server.busUrl, bus: true, ok: 400 },
];

Deno.test("http - a slowloris connection (headers trickled) is closed after --http-header-timeout on the HTTP and the Bus door; others are served", async () => {
  await using server = await startCatbusd(["--http-header-timeout", "1s"]);
  for (const { url, bus, ok } of doors(server)) {
    const slow = await connect(url);
    await slow.write(encoder.encode("GET /health HTTP/1.1\r\nHost: x\r\n"));
    let trickling = true;
    // A header line every 200 ms: each byte is on time, the headers never end.
    const trickle = (async () => {
      for (let i = 0; trickling; i++) {
        await new Promise((r) => setTimeout(r, 200));
        await slow.write(encoder.encode(`x-slow-${i}: 1\r\n`)).catch(() => trickling = false);
      }
    })();
    assert.equal(await served(url, bus), ok, "another client is served meanwhile");
    const answer = await readUntilClosed(slow, `the slowloris connection to ${url} being closed`);
    assert.equal(answer, "", "closed without an answer to a request that never ended");
    trickling = false;
    await trickle;
    slow.close();
  }
});

Deno.test("http - an idle keep-alive connection is closed after --http-idle-timeout", async () => {
  await using server = await startCatbusd(["--http-idle-timeout", "1s"]);
  for (const { url, bus, ok } of doors(server)) {
    const conn = await connect(url);
    await conn.write(encoder.encode(`GET ${bus ? "/" : "/health"} HTTP/1.1\r\nHost: x\r\n\r\n`));
    const answer = await readUntilClosed(conn, `the idle connection to ${url} being closed`);
    assert.match(answer, new RegExp(`^HTTP/1\\.1 ${ok} `));
    assert.doesNotMatch(answer, /connection: close/, "kept alive after the answer, then closed");
    conn.close();
  }
});

Deno.test("http - idle sockets count against --max-connections-per-door; the next one is refused at once", async () => {
  await using server = await startCatbusd(["--max-connections-per-door", "2"]);
  const idle = [await connect(server.httpUrl), await connect(server.httpUrl)];
  // Accepted in order: the third comes after both idle ones hold their slots.
  const third = await connect(server.httpUrl);
  await third.write(encoder.encode("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  const refused = await readUntilClosed(third, "the refused connection being closed");
  assert.match(refused, /^HTTP\/1\.1 503 /);
  assert.match(refused, /"code":"limit_exceeded"/);
  assert.match(refused, /--max-connections-per-door/);
  third.close();
  // The Bus door has slots of its own.
  assert.equal(await served(server.busUrl, true), 400);
  // Once an idle socket goes, its slot is free again.
  idle.pop()!.close();
  const deadline = Date.now() + WAIT_MS;
  let status = 0;
  while (status !== 200 && Date.now() < deadline) status = await served(server.httpUrl);
  assert.equal(status, 200);
  for (const conn of idle) conn.close();
});

Deno.test("http - malformed and smuggling-shaped requests get 400 or 431 and the server goes on", async () => {
  await using server = await startCatbusd();
  const cases: [string, RegExp][] = [
    [
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      /^HTTP\/1\.1 400 /,
    ],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", /^HTTP\/1\.1 400 /],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
      /^HTTP\/1\.1 400 /,
    ],
    ["GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", /^HTTP\/1\.1 400 /],
    ["GET / HTTP/1.1\r\nHost : x\r\n\r\n", /^HTTP\/1\.1 400 /],
    ["GET / HTTP/1.1\r\n\r\n", /^HTTP\/1\.1 400 /],
    ["GET /\r\n\r\n", /^HTTP\/1\.1 400 /],
    ["\x00\x01\x02\r\n\r\n", /^HTTP\/1\.1 400 /],
    [`GET / HTTP/1.1\r\nHost: x\r\n${"X-Big: y\r\n".repeat(200)}\r\n`, /^HTTP\/1\.1 431 /],
    [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"y".repeat(40_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
  ];
  for (const { url, bus, ok } of doors(server)) {
    for (const [request, expected] of cases) {
      const conn = await connect(url);
      await conn.write(encoder.encode(request)).catch(() => {});
      const answer = await readUntilClosed(conn, `the answer to ${JSON.stringify(request)}`);
      assert.match(answer, expected, JSON.stringify(request.slice(0, 80)));
      conn.close();
    }
    assert.equal(await served(url, bus), ok);
  }
});

/** A native PING split over two WebSocket fragments must come back as one PONG. */
function pongOf(frames: FrameDecoder, data: ArrayBuffer, id: number): boolean {
  let pong = false;
  frames.push(new Uint8Array(data), (event) => {
    if (event.kind === "frame" && event.frame.type === FrameType.Pong && event.frame.id === id) {
      pong = true;
    }
  });
  return pong;
}

Deno.test("websocket - ping, a fragmented message and the close handshake, with the ws package", async () => {
  await using server = await startCatbusd();
  const ws = new NodeWebSocket(server.wsUrl);
  ws.binaryType = "arraybuffer";
  await within(
    new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    }),
    WAIT_MS,
    "the WebSocket opening",
  );
  const pong = new Promise<Uint8Array>((resolve) => ws.once("pong", resolve));
  ws.ping(encoder.encode("are you there"));
  assert.equal(new TextDecoder().decode(await within(pong, WAIT_MS, "the pong")), "are you there");

  const frames = new FrameDecoder({ maxFrameBytes: 1 << 20 });
  const answers: ArrayBuffer[] = [];
  let answered: () => void = () => {};
  ws.on("message", (data: ArrayBuffer) => {
    answers.push(data);
    answered();
  });
  const next = () =>
    within(
      new Promise<ArrayBuffer>((resolve) => {
        if (answers.length) return resolve(answers.shift()!);
        answered = () => resolve(answers.shift()!);
      }),
      WAIT_MS,
      "a message from the server",
    );
  ws.send(
    encodeFrame(FrameType.Hello, 1, { version: 1, token: server.adminKey }) as Uint8Array<
      ArrayBuffer
    >,
  );
  await next();
  const ping = encodeFrame(FrameType.Ping, 2);
  ws.send(ping.subarray(0, 5), { fin: false });
  ws.send(ping.subarray(5), { fin: true });
  assert.ok(pongOf(frames, await next(), 2), "the fragmented PING answered with a PONG");

  const closed = new Promise<[number, string]>((resolve) =>
    ws.once("close", (code: number, reason: Uint8Array) => resolve([code, String(reason)]))
  );
  ws.close(1000, "bye");
  assert.deepEqual(await within(closed, WAIT_MS, "the close handshake"), [1000, "bye"]);
});

Deno.test("websocket - Deno's WebSocket: messages, a text message refused with 1003, a clean close", async () => {
  await using server = await startCatbusd();
  const open = async () => {
    const ws = new WebSocket(server.wsUrl);
    ws.binaryType = "arraybuffer";
    await within(
      new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      }),
      WAIT_MS,
      "the WebSocket opening",
    );
    return ws;
  };
  const ws = await open();
  const frames = new FrameDecoder({ maxFrameBytes: 1 << 20 });
  const pong = new Promise<void>((resolve) => {
    ws.onmessage = (e) => {
      if (pongOf(frames, e.data, 2)) resolve();
    };
  });
  ws.send(
    encodeFrame(FrameType.Hello, 1, { version: 1, token: server.adminKey }) as Uint8Array<
      ArrayBuffer
    >,
  );
  ws.send(encodeFrame(FrameType.Ping, 2) as Uint8Array<ArrayBuffer>);
  await within(pong, WAIT_MS, "the PONG");
  const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
  ws.close(1000);
  const event = await within(closed, WAIT_MS, "the close handshake");
  assert.equal(event.code, 1000);
  assert.equal(event.wasClean, true);

  const text = await open();
  const refused = new Promise<CloseEvent>((resolve) => text.onclose = resolve);
  text.send("not a frame");
  const refusal = await within(refused, WAIT_MS, "the text message refused");
  assert.equal(refusal.code, 1003);
  assert.match(refusal.reason, /binary frames/);
});

Deno.test("http - bodies that come with their head, after it in pieces, or unread are framed right for the next request", async () => {
  await using server = await startPulsar();
  const form = "username=nobody&password=wrong";
  const post = (path: string, type: string, body: string) =>
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const login = post("/auth/login", "application/x-www-form-urlencoded", form);
  // Read by the door; left unread (refused before its body is read); then a last request.
  const pipelined = login + post("/api/v1/messages", "application/json", '{"topic":"t"}') +
    "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const conn = await connect(server.pulsarUrl);
  await conn.write(encoder.encode(pipelined));
  const answers = await readUntilClosed(conn, "three pipelined answers");
  conn.close();
  assert.deepEqual([...answers.matchAll(/HTTP\/1\.1 (\d+) /g)].map((m) => m[1]), [
    "401",
    "401",
    "200",
  ]);
  assert.match(answers, /Incorrect username or password[\s\S]*Not authenticated/);

  // The same login with its body split over writes after the head.
  const split = await connect(server.pulsarUrl);
  const close = login.replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n");
  const cut = close.indexOf("\r\n\r\n") + 4 + 5;
  await split.write(encoder.encode(close.slice(0, cut)));
  await split.write(encoder.encode(close.slice(cut)));
  const answer = await readUntilClosed(split, "the split login's answer");
  split.close();
  assert.match(answer, /^HTTP\/1\.1 401 [\s\S]*Incorrect username or password/);
});
