import assert from "node:assert/strict";
import {
  autoTransport,
  CatbusClient,
  sseTransport,
  type Transport,
  webtransportTransport,
} from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { openSse } from "./helpers/sse.ts";
import { within } from "./helpers/deadline.ts";
import { fromBase64 } from "../client/src/http.ts";
import { encodeFrame, FrameDecoder, FrameType } from "../client/shared/frame.ts";
import { PROTOCOL_VERSION, SSE_SESSION_SECRET_HEADER } from "../client/shared/messages.ts";

async function roundTrip(server: TestServer, transport: Transport) {
  const client = new CatbusClient({
    url: server.httpUrl,
    token: server.adminKey,
    transport,
  });
  const states: string[] = [];
  client.onStateChange((s) => states.push(s));
  await client.connect();
  const other = new CatbusClient({
    url: server.tcpUrl,
    token: server.adminKey,
    transport: tcpTransport(),
  });
  await other.connect();
  const got = new AsyncQueue<unknown>();
  await client.subscribe("room.>", (_ch, payload) => got.push(payload));
  await client.publish("room.a", { from: "self" });
  await other.publish("room.a", { from: "other" });
  assert.deepEqual([await got.next(), await got.next()], [{ from: "self" }, {
    from: "other",
  }]);
  await Promise.all([client.disconnect(), other.disconnect()]);
  return states;
}

Deno.test("transports - WebTransport serves only /catbus: a session to another path is closed unserved", async () => {
  await using server = await startCatbusd();
  const hash = await (await fetch(`${server.httpUrl}/.well-known/catbus/cert-hash`)).json();
  const wt = new WebTransport(`${server.httpUrl.replace("http:", "https:")}/elsewhere`, {
    serverCertificateHashes: [{ algorithm: "sha-256", value: fromBase64(hash.value) }],
  } as WebTransportOptions);
  wt.ready.catch(() => {});
  const stream = await within(wt.createBidirectionalStream(), 5000, "a stream on the session")
    .catch(() => undefined);
  if (stream) {
    const writer = stream.writable.getWriter();
    writer.write(encodeFrame(FrameType.Hello, 1, { version: PROTOCOL_VERSION })).catch(() => {});
    const read = stream.readable.getReader().read().catch(() => ({ done: true, value: undefined }));
    const answer = await within(read, 5000, "the refused session ends");
    assert.equal(answer.value, undefined, "nothing is answered on another path");
  }
  const closed = await within(
    wt.closed.then((info) => info, (e) => ({ reason: String(e), closeCode: undefined })),
    5000,
    "the session to another path is closed",
  );
  assert.match(closed.reason ?? "", /\/catbus/);
});

Deno.test("transports - WebTransport with the pinned self-signed certificate hash", async () => {
  await using server = await startCatbusd();
  const hash = await (await fetch(`${server.httpUrl}/.well-known/catbus/cert-hash`))
    .json();
  assert.equal(hash.algorithm, "sha-256");
  assert.ok(
    hash.expires - Date.now() <= 14 * 86_400_000,
    "valid for at most 14 days",
  );
  await roundTrip(
    server,
    webtransportTransport({ serverCertificateHashes: [hash] }),
  );
  await roundTrip(
    server,
    webtransportTransport({ fetchCertificateHash: true }),
  );
});

Deno.test("transports - a refused WebTransport client gets the error frame, not a lost connection", async () => {
  await using server = await startCatbusd();
  const client = new CatbusClient({
    url: server.httpUrl,
    token: "not-a-token",
    transport: webtransportTransport({ fetchCertificateHash: true }),
    autoReconnect: false,
  });
  await assert.rejects(
    within(client.connect(), 10_000, "the refusal"),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "unauthorized", e.message);
      return true;
    },
  );
  await client.disconnect();
});

Deno.test("transports - SSE down and POST up carry the same protocol", async () => {
  await using server = await startCatbusd();
  await roundTrip(server, sseTransport());
  const bad = await fetch(`${server.httpUrl}/sse/nosuchsession`, {
    method: "POST",
    body: "x",
  });
  assert.equal(bad.status, 404);
  await bad.body?.cancel();
});

Deno.test("transports - auto falls back to WebSocket when WebTransport is off", async () => {
  await using server = await startCatbusd(["--no-webtransport"]);
  const missing = await fetch(`${server.httpUrl}/.well-known/catbus/cert-hash`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  let kind = "";
  const auto = autoTransport({
    webtransport: { fetchCertificateHash: true, connectTimeout: 500 },
  });
  const spy: Transport = {
    connect: async (url, handlers) => {
      const conn = await auto.connect(url, handlers);
      kind = conn.kind ?? "";
      return conn;
    },
  };
  await roundTrip(server, spy);
  assert.equal(kind, "websocket");
});

Deno.test("transports - the browser client is served as one ES module", async () => {
  await using server = await startCatbusd();
  const r = await fetch(`${server.httpUrl}/catbus/client.js`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type")!, /javascript/);
  const code = await r.text();
  assert.match(code, /export\{/);
  const mod = await import(`data:text/javascript;base64,${btoa(code)}`);
  assert.equal(typeof mod.CatbusClient, "function");
  assert.equal(typeof mod.autoTransport, "function");
});

Deno.test("transports - a dropped SSE stream reattaches with Last-Event-ID and loses nothing", async () => {
  await using server = await startCatbusd();
  const first = await openSse(`${server.httpUrl}/sse`);
  const { id: session, secret } = JSON.parse((await first.next()).data);
  const post = (frame: Uint8Array) =>
    fetch(`${server.httpUrl}/sse/${session}`, {
      method: "POST",
      headers: { [SSE_SESSION_SECRET_HEADER]: secret },
      body: frame as Uint8Array<ArrayBuffer>,
    })
      .then((r) => r.body?.cancel());
  await post(
    encodeFrame(FrameType.Hello, 1, { version: PROTOCOL_VERSION, token: server.adminKey }),
  );
  const welcome = await first.next();
  assert.equal(decodeOne(welcome.data).type, FrameType.Welcome);
  await first.close(); // the stream drops; the session waits for it to come back
  await post(encodeFrame(FrameType.Ping, 2));
  const again = await openSse(`${server.httpUrl}/sse?session=${session}`, {
    [SSE_SESSION_SECRET_HEADER]: secret,
    "last-event-id": welcome.id!,
  });
  const pong = await again.next();
  assert.equal(decodeOne(pong.data).type, FrameType.Pong, "sent while no stream was attached");
  await again.close();
  const tooOld = await openSse(`${server.httpUrl}/sse?session=nosuch`);
  assert.equal(tooOld.response.status, 404);
  await tooOld.close();
});

Deno.test("transports - an SSE session id alone reads, publishes and ends nothing", async () => {
  await using server = await startCatbusd();
  const victim = await openSse(`${server.httpUrl}/sse`);
  const { id, secret } = JSON.parse((await victim.next()).data);
  assert.match(secret, /^[A-Za-z0-9_-]{32}$/);
  const send = (frame: Uint8Array, headers: Record<string, string>) =>
    fetch(`${server.httpUrl}/sse/${id}`, {
      method: "POST",
      headers,
      body: frame as Uint8Array<ArrayBuffer>,
    });
  const hello = encodeFrame(FrameType.Hello, 1, {
    version: PROTOCOL_VERSION,
    token: server.adminKey,
  });
  assert.equal((await send(hello, { [SSE_SESSION_SECRET_HEADER]: secret })).status, 204);
  assert.equal(decodeOne((await victim.next()).data).type, FrameType.Welcome);

  // Without the secret (or with a wrong one): the same 404 as an unknown session.
  const guesses: Record<string, string>[] = [{}, { [SSE_SESSION_SECRET_HEADER]: "x".repeat(32) }];
  for (const headers of guesses) {
    const publish = encodeFrame(FrameType.Publish, 2, { channel: "forged.x" });
    const posted = await send(publish, headers);
    assert.equal(posted.status, 404, await posted.text());
    const ended = await fetch(`${server.httpUrl}/sse/${id}`, { method: "DELETE", headers });
    assert.equal(ended.status, 404, await ended.text());
    const read = await fetch(`${server.httpUrl}/sse?session=${id}`, { headers });
    assert.equal(read.status, 404, await read.text());
  }
  // The victim's session is untouched and took none of it: its next frame answers its ping.
  assert.equal(
    (await send(encodeFrame(FrameType.Ping, 3), { [SSE_SESSION_SECRET_HEADER]: secret }))
      .status,
    204,
  );
  const next = decodeOne((await within(victim.next(), 5000, "the pong")).data);
  assert.equal(next.type, FrameType.Pong);
  await victim.close();
  // EventSource cannot send headers: a reattaching GET may carry the secret in the query.
  const reattached = await fetch(`${server.httpUrl}/sse?session=${id}&secret=${secret}`);
  assert.equal(reattached.status, 200);
  await reattached.body?.cancel();
});

/** The first frame of an SSE event's base64 data. */
function decodeOne(data: string) {
  let frame: { type: number } | undefined;
  new FrameDecoder({ maxFrameBytes: 1 << 20 }).push(
    Uint8Array.from(atob(data), (c) => c.charCodeAt(0)),
    (e) => {
      if (e.kind === "frame") frame ??= { type: e.frame.type };
    },
  );
  return frame!;
}
