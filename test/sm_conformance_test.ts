/**
 * RCP as an independent client sees it (helpers/rcp-raw.ts: its own frame encoder and CRC-32C,
 * no code from src/sm). Covers framing, malformed input answered with
 * BAD_REQUEST on a connection that stays usable, jsonl from the first byte, and a watcher too
 * slow to read being told what it lost.
 */
import assert from "node:assert/strict";
import { ORDER, startSm } from "./sm_helpers.ts";
import { code, frame, json, Raw, request } from "./helpers/rcp-raw.ts";

Deno.test("sm conformance - frames, HELLO, extension blocks and pipelined requests", async () => {
  await using server = await startSm();
  const c = await Raw.open(server.rcpPort!);
  await c.send(frame(request("h", "HELLO", { protocol_version: 1, wire_modes: ["binary_json"] })));
  const hello = await c.response();
  assert.deepEqual([hello.id, hello.status], ["h", "ok"]);
  assert.equal((hello.result as { wire_mode: string }).wire_mode, "binary_json");
  // Two requests in one write, one with an extension block and one without a CRC.
  await c.send(
    new Uint8Array([
      ...frame(request("1", "PUT_MACHINE", { machine: "m", version: 1, definition: ORDER }), {
        extension: new Uint8Array([1, 2, 3]),
      }),
      ...frame(request("2", "PING"), { flags: 0, crc: 0 }),
    ]),
  );
  const answers = [await c.response(), await c.response()].sort((a, b) =>
    String(a.id).localeCompare(String(b.id))
  );
  assert.deepEqual(answers.map((a) => [a.id, a.status]), [["1", "ok"], ["2", "ok"]]);
  c.close();
});

Deno.test("sm conformance - malformed input gets BAD_REQUEST and the connection stays usable", async () => {
  await using server = await startSm();
  const c = await Raw.open(server.rcpPort!);
  await c.send(frame(request("h", "HELLO", { protocol_version: 1 })));
  assert.equal((await c.response()).status, "ok");
  const bad: [Uint8Array, string][] = [
    [frame(request("x", "PING"), { crc: 12345 }), "BAD_REQUEST"],
    [frame(new TextEncoder().encode("{not json")), "BAD_REQUEST"],
    [frame(new Uint8Array([0xff, 0xfe])), "BAD_REQUEST"],
    [frame(json([1, 2])), "BAD_REQUEST"],
    [frame(json({ type: "request", op: "PING" })), "BAD_REQUEST"],
    [frame(request("u", "FLY")), "BAD_REQUEST"],
    [frame(request("v", "PING"), { version: 9 }), "UNSUPPORTED_PROTOCOL"],
    [frame(request("f", "PING"), { flags: 0x41 }), "BAD_REQUEST"],
    [frame(request("z", "PING"), { flags: 0x3 }), "BAD_REQUEST"],
    [frame(request("p", "APPLY_EVENT", { instance_id: 5 })), "BAD_REQUEST"],
  ];
  for (const [bytes, expected] of bad) {
    await c.send(bytes);
    const r = await c.response();
    assert.equal(code(r), expected, JSON.stringify(r));
    await c.send(frame(request("ping", "PING")));
    assert.equal((await c.response()).status, "ok", "still usable");
  }
  // An oversized frame is skipped without buffering it.
  const huge = new Uint8Array(18);
  huge.set(new TextEncoder().encode("RCPX"));
  new DataView(huge.buffer).setUint16(4, 1);
  new DataView(huge.buffer).setUint32(10, 17 * 1024 * 1024);
  await c.send(huge);
  assert.equal(code(await c.response()), "BAD_REQUEST");
  c.close();

  // A bad magic loses the frame boundary: an answer, then the connection closes.
  const d = await Raw.open(server.rcpPort!);
  await d.send(frame(request("1", "PING"), { magic: "XXXX" }));
  assert.equal(code(await d.response()), "BAD_REQUEST");
  assert.equal(await d.next(), undefined);
  d.close();
});

Deno.test("sm conformance - a jsonl client from the first byte, with or without HELLO", async () => {
  await using server = await startSm();
  const c = await Raw.open(server.rcpPort!);
  c.jsonl = true;
  const line = (v: unknown) => c.send(new TextEncoder().encode(JSON.stringify(v) + "\n"));
  await line({ type: "request", id: "1", op: "LIST_MACHINES" });
  assert.equal(code(await c.response()), "ok", "as rstmdb, HELLO is not required");
  await line({
    type: "request",
    id: "2",
    op: "HELLO",
    params: { protocol_version: 1, wire_modes: ["jsonl"] },
  });
  assert.equal((await c.response()).status, "ok");
  await c.send(new TextEncoder().encode("not json\r\n"));
  assert.equal(code(await c.response()), "BAD_REQUEST");
  await line({ type: "request", id: "3", op: "LIST_MACHINES" });
  const r = await c.response();
  assert.deepEqual([r.id, r.status], ["3", "ok"]);
  c.close();
});

Deno.test("sm conformance - a watcher that stops reading is told it lost events, with where to resume", async () => {
  await using server = await startSm(["--sm-fsync", "never"]);
  const c = await Raw.open(server.rcpPort!);
  await c.send(frame(request("h", "HELLO", { protocol_version: 1 })));
  await c.response();
  await c.send(frame(request("p", "PUT_MACHINE", {
    machine: "m",
    version: 1,
    definition: { states: ["s"], initial: "s", transitions: [{ from: "s", event: "E", to: "s" }] },
  })));
  await c.response();
  await c.send(
    frame(request("i", "CREATE_INSTANCE", { instance_id: "x", machine: "m", version: 1 })),
  );
  await c.response();
  const slow = await Raw.open(server.rcpPort!);
  await slow.send(frame(request("h", "HELLO", { protocol_version: 1 })));
  await slow.response();
  await slow.send(frame(request("w", "WATCH_ALL", { include_ctx: true })));
  await slow.response();
  // ~40 MiB of events with a watcher that does not read: more than the socket buffers and the
  // server's 8 MiB queue hold.
  const big = "x".repeat(64 * 1024);
  for (let i = 0; i < 640; i += 32) {
    const batch = [];
    for (let j = i; j < i + 32; j++) {
      batch.push(
        ...frame(
          request(`e${j}`, "APPLY_EVENT", { instance_id: "x", event: "E", payload: { big, j } }),
        ),
      );
    }
    await c.send(new Uint8Array(batch));
    for (let j = 0; j < 32; j++) assert.equal((await c.response()).status, "ok");
  }
  let delivered = 0;
  for (;;) {
    const got = await slow.next();
    assert.ok(got, "closed before the notice");
    if (got.message.type !== "event") {
      // Not an event (rstmdb's clients parse every event as an instance change): an `end`
      // naming the subscription, which rstmdb-js ends and its other clients skip.
      assert.equal(got.message.type, "end");
      assert.ok(got.flags & 8, "END_STREAM");
      assert.equal(typeof got.message.subscription_id, "string");
      assert.match(got.message.reason as string, /fell behind/);
      assert.equal(got.message.lost, true);
      const error = got.message.error as { code: string; details: { resume_from_offset: number } };
      assert.equal(error.code, "RATE_LIMITED");
      assert.ok(error.details.resume_from_offset > 0);
      assert.equal(got.message.resume_from_offset, error.details.resume_from_offset);
      break;
    }
    for (const field of ["instance_id", "machine", "from_state", "to_state", "event"]) {
      assert.equal(typeof got.message[field], "string", field);
    }
    assert.equal(typeof got.message.wal_offset, "number");
    delivered++;
  }
  assert.ok(delivered < 640);
  c.close();
  slow.close();
});
