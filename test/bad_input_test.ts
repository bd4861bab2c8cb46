import assert from "node:assert/strict";
import { encodeFrame, FrameType } from "../client/shared/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { json, RawConnection } from "./helpers/raw.ts";

Deno.test("bad input - malformed, oversize and unknown frames get error codes and the server keeps serving", async () => {
  await using server = await startCatbusd(["--max-payload", "1024"]);
  const c = await RawConnection.connect(server.tcpPort);
  assert.equal((await c.hello(server.adminKey)).type, FrameType.Welcome);

  const expectError = async (id: number, code: string) => {
    const f = await c.reply(id);
    assert.equal(f.type, FrameType.Error, JSON.stringify(f.json));
    assert.equal(f.json.code, code);
    assert.equal(typeof f.json.message, "string");
  };
  // Meta that is not JSON.
  await c.write(
    encodeFrame(FrameType.Publish, 50, new TextEncoder().encode("{nope")),
  );
  await expectError(50, "bad_request");
  // Unknown operation.
  await expectError(await c.send(99, {}), "unknown_op");
  // Oversize payload: skipped whole, answered, stream still in sync.
  await expectError(
    await c.send(
      FrameType.Publish,
      { channel: "app.x" },
      new Uint8Array(200_000),
    ),
    "too_large",
  );
  // Payload that is not JSON without the binary flag.
  await expectError(
    await c.send(
      FrameType.Publish,
      { channel: "app.x" },
      new TextEncoder().encode("{"),
    ),
    "bad_request",
  );
  // Wildcard publish, bad pattern, bad resume.
  await expectError(
    await c.send(FrameType.Publish, { channel: "app.*" }, json(1)),
    "bad_request",
  );
  await expectError(
    await c.send(FrameType.Subscribe, { pattern: "app..x" }),
    "bad_request",
  );
  await expectError(
    await c.send(FrameType.Subscribe, { pattern: "app.>", resume: { app: 5 } }),
    "bad_request",
  );
  await expectError(
    await c.send(FrameType.Unsubscribe, { pattern: "app.never" }),
    "not_found",
  );
  // Still serving this connection:
  const ok = await c.reply(
    await c.send(FrameType.Publish, { channel: "app.x" }, json({ fine: true })),
  );
  assert.equal(ok.type, FrameType.Ok);
  assert.equal(ok.json.seq, 1);

  // A stream that cannot be parsed is answered and closed; other clients are untouched.
  const garbage = await RawConnection.connect(server.tcpPort);
  await garbage.write(
    new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
  );
  const err = await garbage.next(() => true);
  assert.equal(err.json.code, "bad_request");
  await garbage.untilClosed();
  const pong = await c.reply(await c.send(FrameType.Ping));
  assert.equal(pong.type, FrameType.Pong);
  c.close();
});

Deno.test("bad input - no frames before hello, and a bad token is refused", async () => {
  await using server = await startCatbusd();
  const early = await RawConnection.connect(server.tcpPort);
  await early.send(FrameType.Publish, { channel: "app.x" }, json(1));
  assert.equal((await early.next(() => true)).json.code, "unauthorized");
  await early.untilClosed();

  const bad = await RawConnection.connect(server.tcpPort);
  const refused = await bad.hello("sub-forged.token");
  assert.equal(refused.type, FrameType.Error);
  assert.equal(refused.json.code, "unauthorized");
  await bad.untilClosed();
});

Deno.test("bad input - consumer operations with wrong shapes are answered, never crash", async () => {
  await using server = await startCatbusd();
  const c = await RawConnection.connect(server.tcpPort);
  assert.equal((await c.hello(server.adminKey)).type, FrameType.Welcome);
  const expectError = async (type: number, meta: unknown, code: string) => {
    const f = await c.reply(await c.send(type, meta));
    assert.equal(f.type, FrameType.Error, JSON.stringify(f.json));
    assert.equal(f.json.code, code);
  };
  await c.reply(await c.send(FrameType.Publish, { channel: "jobs.x" }, json(1)));
  await expectError(FrameType.ConsumerCreate, [], "bad_request");
  await expectError(FrameType.ConsumerCreate, { name: "w", pattern: 7 }, "bad_request");
  await expectError(
    FrameType.ConsumerCreate,
    { name: "w", pattern: "jobs.>", ackWait: -1 },
    "bad_request",
  );
  await expectError(
    FrameType.ConsumerCreate,
    { name: "w", pattern: "jobs.>", backoff: "1s" },
    "bad_request",
  );
  await expectError(
    FrameType.ConsumerCreate,
    { name: "w", pattern: "jobs.>", ackPolicy: "all" },
    "bad_request",
  );
  await expectError(
    FrameType.ConsumerCreate,
    { name: "w", pattern: "jobs.>", deadLetter: "x.*" },
    "bad_request",
  );
  await expectError(FrameType.Consume, {}, "bad_request");
  await expectError(FrameType.Consume, { name: "nope" }, "not_found");
  const created = await c.reply(
    await c.send(FrameType.ConsumerCreate, { name: "w", pattern: "jobs.>" }),
  );
  assert.equal(created.type, FrameType.Ok);
  await expectError(FrameType.Consume, { name: "w", maxInFlight: 0 }, "bad_request");
  await expectError(FrameType.Ack, { consumer: "w", seq: "1" }, "bad_request");
  await expectError(FrameType.Ack, { consumer: "w", seq: 1, kind: "maybe" }, "bad_request");
  await expectError(
    FrameType.Ack,
    { consumer: "w", seq: 1, kind: "nak", delay: -5 },
    "bad_request",
  );
  await expectError(FrameType.Ack, { consumer: "w", seq: 99 }, "not_found");
  await expectError(FrameType.Stop, { name: "w" }, "not_found");
  await expectError(FrameType.ConsumerDelete, { name: "nope" }, "not_found");
  // A fire-and-forget ack that fails comes back as a notice, and the connection goes on.
  await c.write(encodeFrame(FrameType.Ack, 0, { consumer: "w", seq: 42 }));
  const notice = await c.next((f) => f.type === FrameType.Notice);
  assert.equal(notice.json.event, "ack_failed");
  assert.equal(notice.json.code, "not_found");
  assert.equal((await c.reply(await c.send(FrameType.Ping))).type, FrameType.Pong);
  c.close();
});

Deno.test("bad input - invalid UTF-8 in a channel or a text payload is bad_request, native and Bus", async () => {
  await using server = await startCatbusd();
  const c = await RawConnection.connect(server.tcpPort);
  await c.hello(server.adminKey);
  const bytes = (...parts: (string | number[])[]) =>
    new Uint8Array(parts.flatMap((p) => typeof p === "string" ? [...json(p)].slice(1, -1) : p));
  const expectError = async (id: number, pattern: RegExp) => {
    const f = await c.reply(id);
    assert.equal(f.type, FrameType.Error, JSON.stringify(f.json));
    assert.equal(f.json.code, "bad_request");
    assert.match(String(f.json.message), pattern);
  };
  // 0xff never occurs in UTF-8; 0xc3 starts a two-byte sequence that never ends.
  const badChannel = bytes('{"channel":"app.', [0xff], '"}');
  await c.write(encodeFrame(FrameType.Publish, 60, badChannel, json(1)));
  await expectError(60, /not valid UTF-8/);
  await expectError(
    await c.send(FrameType.Publish, { channel: "app.x" }, bytes('"caf', [0xc3], '"')),
    /payload is not valid UTF-8/,
  );
  // The same bytes as a binary payload are fine: binary payloads are opaque.
  const binary = await c.reply(
    await c.send(FrameType.Publish, { channel: "app.x" }, bytes('"caf', [0xc3], '"'), 1),
  );
  assert.equal(binary.type, FrameType.Ok, JSON.stringify(binary.json));

  const refused = await fetch(`${server.busUrl}/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: bytes('{"subject":"app.x","payload":"', [0xff, 0xfe], '"}'),
  });
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /not valid UTF-8/);
  const refusedSubject = await fetch(`${server.busUrl}/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: bytes('{"subject":"app.', [0xff], '","payload":1}'),
  });
  assert.equal(refusedSubject.status, 400);
  c.close();
});
