import assert from "node:assert/strict";
import { hashToken } from "../src/dialects/rcp/token-hashes.ts";
import { codeOf, connectSm, EventLog, ORDER, startSm } from "./sm_helpers.ts";
import { within } from "./helpers/deadline.ts";
import { json, RawConnection } from "./helpers/raw.ts";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";

Deno.test("sm rcp - every operation over TCP", async () => {
  await using server = await startSm(["--sm-segment-mb", "0.002"]);
  const c = await connectSm(server);
  assert.equal(c.hello.protocol_version, 1);
  assert.equal(c.hello.wire_mode, "binary_json");
  assert.deepEqual(await c.request("PING"), { pong: true });
  const info = await c.request("INFO");
  assert.equal(info.max_batch_ops, 100);
  const put = await c.request("PUT_MACHINE", { machine: "order", version: 1, definition: ORDER });
  assert.equal(put.created, true);
  assert.match(put.stored_checksum as string, /^[0-9a-f]{64}$/);
  const again = await c.request("PUT_MACHINE", {
    machine: "order",
    version: 1,
    definition: ORDER,
    checksum: put.stored_checksum,
  });
  assert.equal(again.created, false);
  assert.deepEqual(
    (await c.request("GET_MACHINE", { machine: "order", version: 1 })).definition,
    ORDER,
  );
  assert.deepEqual(await c.request("LIST_MACHINES"), {
    items: [{ machine: "order", versions: [1] }],
  });
  const created = await c.request("CREATE_INSTANCE", { machine: "order", version: 1 });
  const id = created.instance_id as string;
  assert.match(id, /^[0-9a-f-]{36}$/);
  await c.request("CREATE_INSTANCE", {
    instance_id: "o2",
    machine: "order",
    version: 1,
    initial_ctx: { amount: 2 },
  });
  const applied = await c.request("APPLY_EVENT", {
    instance_id: "o2",
    event: "PAY",
    payload: { ready: true },
  });
  assert.deepEqual([applied.from_state, applied.to_state, applied.applied], [
    "created",
    "paid",
    true,
  ]);
  assert.deepEqual(applied.ctx, { amount: 2, ready: true });
  const got = await c.request("GET_INSTANCE", { instance_id: "o2" });
  assert.equal(got.state, "paid");
  assert.equal(got.last_wal_offset, applied.wal_offset);
  const listed = await c.request("LIST_INSTANCES", { machine: "order", limit: 1 });
  assert.equal(listed.total, 2);
  assert.equal(listed.has_more, true);
  assert.deepEqual((listed.instances as { id: string }[]).map((i) => i.id), [id]);
  const batch = await c.request("BATCH", {
    mode: "best_effort",
    ops: [
      { op: "APPLY_EVENT", params: { instance_id: "o2", event: "SHIP" } },
      { op: "APPLY_EVENT", params: { instance_id: "o2", event: "SHIP" } },
    ],
  });
  assert.deepEqual((batch.results as { status: string }[]).map((r) => r.status), ["ok", "error"]);
  const snap = await c.request("SNAPSHOT_INSTANCE", { instance_id: "o2" });
  assert.match(snap.snapshot_id as string, /^snap-/);
  assert.ok((snap.size_bytes as number) > 0);
  const wal = await c.request("WAL_READ", { from_offset: 1, limit: 2 });
  const records = wal.records as { sequence: number; entry: { type: string } }[];
  assert.deepEqual(records.map((r) => r.entry.type), ["put_machine", "create_instance"]);
  assert.equal(wal.next_offset, records[1].sequence + 1);
  const stats = await c.request("WAL_STATS");
  assert.equal(stats.entry_count, 5);
  assert.ok((stats.io_stats as { fsyncs: number }).fsyncs >= 1);
  const compacted = await c.request("COMPACT", { force_snapshot: true });
  assert.equal(compacted.snapshots_created, 1);
  const deleted = await c.request("DELETE_INSTANCE", { instance_id: id });
  assert.equal(deleted.deleted, true);
  assert.equal((await c.request("GET_INSTANCE", { instance_id: id })).deleted, true);
  const watch = await c.request("WATCH_INSTANCE", { instance_id: "o2" });
  assert.equal(watch.current_state, "shipped");
  assert.deepEqual(await c.request("UNWATCH", { subscription_id: watch.subscription_id }), {
    subscription_id: watch.subscription_id,
    removed: true,
  });
  const all = await c.request("WATCH_ALL", { machines: ["order"] });
  assert.match(all.subscription_id as string, /^sub-/);
  const closed = Promise.withResolvers<void>();
  const bye = await connectSm(server, { onClose: closed.resolve });
  assert.deepEqual(await bye.request("BYE"), { goodbye: true });
  await within(closed.promise, 10_000, "the close after BYE");
  c.close();
});

Deno.test("sm rcp - error codes", async () => {
  await using server = await startSm(["--sm-max-machine-versions", "2"]);
  const c = await connectSm(server);
  const put = (version: number, definition: unknown = ORDER) =>
    c.request("PUT_MACHINE", { machine: "order", version, definition });
  await put(1);
  assert.equal(await codeOf(put(1, { ...ORDER, initial: "paid" })), "MACHINE_VERSION_EXISTS");
  await put(2);
  assert.equal(await codeOf(put(3)), "MACHINE_VERSION_LIMIT_EXCEEDED");
  assert.equal(await codeOf(put(4, { ...ORDER, initial: "nowhere" })), "BAD_REQUEST");
  const badGuard = {
    ...ORDER,
    transitions: [{ from: "created", event: "X", to: "paid", guard: "ctx.a > 1 )" }],
  };
  const guardError = await c.request("PUT_MACHINE", {
    machine: "g",
    version: 1,
    definition: badGuard,
  })
    .catch((e) => e);
  assert.equal(guardError.code, "BAD_REQUEST");
  assert.equal(guardError.details.position, 10);
  assert.equal(
    await codeOf(c.request("GET_MACHINE", { machine: "nope", version: 1 })),
    "MACHINE_NOT_FOUND",
  );
  assert.equal(
    await codeOf(c.request("CREATE_INSTANCE", { machine: "nope", version: 1 })),
    "MACHINE_NOT_FOUND",
  );
  await c.request("CREATE_INSTANCE", { instance_id: "a", machine: "order", version: 1 });
  assert.equal(
    await codeOf(c.request("CREATE_INSTANCE", { instance_id: "a", machine: "order", version: 1 })),
    "INSTANCE_EXISTS",
  );
  assert.equal(await codeOf(c.request("GET_INSTANCE", { instance_id: "b" })), "INSTANCE_NOT_FOUND");
  const apply = (params: Record<string, unknown>) =>
    codeOf(c.request("APPLY_EVENT", { instance_id: "a", ...params }));
  assert.equal(await apply({ event: "SHIP" }), "INVALID_TRANSITION");
  assert.equal(await apply({ event: "PAY" }), "GUARD_FAILED");
  assert.equal(await apply({ event: "PAY", expected_state: "paid" }), "CONFLICT");
  assert.equal(await apply({ event: "PAY", expected_wal_offset: 1 }), "CONFLICT");
  assert.equal(await apply({ event: 7 }), "BAD_REQUEST");
  assert.equal(await codeOf(c.request("NO_SUCH_OP")), "BAD_REQUEST");
  assert.equal(await codeOf(c.request("HELLO", { protocol_version: 2 })), "UNSUPPORTED_PROTOCOL");
  assert.equal(
    await codeOf(c.request("BATCH", { ops: [{ op: "WATCH_ALL", params: {} }] })),
    "BAD_REQUEST",
  );
  assert.equal(
    await codeOf(
      c.request("BATCH", { ops: Array.from({ length: 101 }, () => ({ op: "GET_INSTANCE" })) }),
    ),
    "BAD_REQUEST",
  );
  c.close();
});

Deno.test("sm rcp - until AUTH only HELLO, AUTH, PING and BYE; WATCH included; token hashes from a file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catbus-sm-auth-" });
  const secrets = `${dir}/tokens.secret`;
  await Deno.writeTextFile(secrets, `# one hash per line\n${hashToken("file-token")}\n`);
  await using server = await startSm([
    "--rcp-auth-required",
    "--rcp-token-hashes",
    hashToken("flag-token"),
    "--rcp-secrets-file",
    secrets,
  ]);
  const c = await connectSm(server);
  assert.deepEqual(await c.request("PING"), { pong: true });
  for (const op of ["LIST_MACHINES", "WATCH_ALL", "INFO", "WAL_READ"]) {
    assert.equal(await codeOf(c.request(op, { instance_id: "x" })), "UNAUTHORIZED", op);
  }
  assert.equal(await codeOf(c.request("WATCH_INSTANCE", { instance_id: "x" })), "UNAUTHORIZED");
  assert.equal(
    await codeOf(c.request("AUTH", { method: "bearer", token: "wrong" })),
    "AUTH_FAILED",
  );
  assert.deepEqual(await c.request("AUTH", { method: "bearer", token: "flag-token" }), {
    authenticated: true,
  });
  assert.deepEqual(await c.request("LIST_MACHINES"), { items: [] });
  c.close();
  const viaFile = await connectSm(server, { token: "file-token" });
  assert.deepEqual(await viaFile.request("LIST_MACHINES"), { items: [] });
  viaFile.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sm rcp - jsonl wire mode both ways, including watch events", async () => {
  await using server = await startSm();
  const log = new EventLog();
  const c = await connectSm(server, {
    wireMode: "jsonl",
    features: ["lifecycle_events"],
    onEvent: log.push,
  });
  assert.equal(c.hello.wire_mode, "jsonl");
  await c.request("PUT_MACHINE", { machine: "order", version: 1, definition: ORDER });
  await c.request("WATCH_ALL", { include_ctx: false });
  await c.request("CREATE_INSTANCE", {
    instance_id: "j",
    machine: "order",
    version: 1,
    initial_ctx: { amount: 1 },
  });
  await c.request("APPLY_EVENT", { instance_id: "j", event: "PAY" });
  const [created, paid] = await log.count(2);
  assert.equal(created.event, "$created");
  assert.equal(paid.to_state, "paid");
  assert.equal("ctx" in paid, false, "include_ctx false leaves ctx out");
  c.close();
});

Deno.test("sm rcp - watch replays from_offset without gaps or duplicates, then goes live; filters apply", async () => {
  await using server = await startSm();
  const c = await connectSm(server);
  await c.request("PUT_MACHINE", { machine: "order", version: 1, definition: ORDER });
  await c.request("PUT_MACHINE", { machine: "other", version: 1, definition: ORDER });
  for (const [id, machine] of [["a", "order"], ["b", "other"], ["c", "order"]]) {
    await c.request("CREATE_INSTANCE", {
      instance_id: id,
      machine,
      version: 1,
      initial_ctx: { amount: 1 },
    });
  }
  await c.request("APPLY_EVENT", { instance_id: "a", event: "PAY" });
  const replay = new EventLog();
  const lifecycle = ["lifecycle_events"];
  const w = await connectSm(server, { features: lifecycle, onEvent: replay.push });
  const sub = await w.request("WATCH_ALL", { from_offset: 1, machines: ["order"] });
  // Live writes race the replay: each must arrive exactly once, in WAL order.
  const live = [
    c.request("APPLY_EVENT", { instance_id: "c", event: "CANCEL" }),
    c.request("APPLY_EVENT", { instance_id: "b", event: "CANCEL" }),
    c.request("APPLY_EVENT", { instance_id: "a", event: "CANCEL" }),
  ];
  await Promise.all(live);
  const events = await replay.count(5);
  assert.deepEqual(
    events.map((e) => `${e.instance_id}:${e.event}`),
    ["a:$created", "c:$created", "a:PAY", "c:CANCEL", "a:CANCEL"],
  );
  assert.ok(events.every((e) => e.subscription_id === sub.subscription_id));
  const offsets = events.map((e) => e.wal_offset as number);
  assert.deepEqual(offsets, [...offsets].sort((x, y) => x - y));

  const one = new EventLog();
  const wi = await connectSm(server, { features: lifecycle, onEvent: one.push });
  const w1 = await wi.request("WATCH_INSTANCE", { instance_id: "c", from_offset: 1 });
  assert.equal(w1.current_state, "cancelled");
  const [first, second] = await one.count(2);
  assert.deepEqual([first.event, second.event], ["$created", "CANCEL"]);
  const toStates = new EventLog();
  const wt = await connectSm(server, { onEvent: toStates.push });
  await wt.request("WATCH_ALL", { from_offset: 1, to_states: ["paid"], events: ["PAY"] });
  assert.deepEqual((await toStates.count(1)).map((e) => e.instance_id), ["a"]);

  await c.request("COMPACT", { force_snapshot: true });
  await c.request("DELETE_INSTANCE", { instance_id: "b" });
  const deleted = await one.count(2);
  assert.equal(deleted.length, 2, "the instance watcher sees only its instance");
  assert.equal((await replay.count(5)).length, 5);
  for (const x of [c, w, wi, wt]) x.close();
});

Deno.test("sm rcp - idempotent retries answer the first result with applied:false, across a restart", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-sm-idem-" });
  let server = await startSm([], { data });
  let c = await connectSm(server);
  await c.request("PUT_MACHINE", { machine: "order", version: 1, definition: ORDER });
  await c.request("CREATE_INSTANCE", {
    instance_id: "i",
    machine: "order",
    version: 1,
    initial_ctx: { amount: 1 },
  });
  const params = { instance_id: "i", event: "PAY", payload: { n: 1 }, idempotency_key: "pay-1" };
  const [first, retry] = await Promise.all([
    c.request("APPLY_EVENT", params),
    c.request("APPLY_EVENT", params),
  ]);
  assert.equal(first.applied, true);
  assert.deepEqual(retry, { ...first, applied: false });
  c.close();
  await server.stop();
  server = await startSm([], { data });
  c = await connectSm(server);
  assert.deepEqual(await c.request("APPLY_EVENT", params), { ...first, applied: false });
  assert.equal(
    await codeOf(c.request("APPLY_EVENT", { ...params, payload: { n: 2 } })),
    "CONFLICT",
  );
  c.close();
  await server.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("sm rcp - an atomic batch is all or nothing", async () => {
  await using server = await startSm();
  const c = await connectSm(server);
  await c.request("PUT_MACHINE", { machine: "order", version: 1, definition: ORDER });
  const ops = (event: string) => [
    {
      op: "CREATE_INSTANCE",
      params: { instance_id: "x", machine: "order", version: 1, initial_ctx: { amount: 1 } },
    },
    { op: "APPLY_EVENT", params: { instance_id: "x", event: "PAY" } },
    { op: "APPLY_EVENT", params: { instance_id: "x", event } },
  ];
  const failed = await c.request("BATCH", { mode: "atomic", ops: ops("SHIP") }).catch((e) => e);
  assert.equal(failed.code, "BAD_REQUEST", "rstmdb's code");
  assert.match(failed.message, /^atomic batch failed: /);
  assert.deepEqual([failed.details.code, failed.details.op_index], ["GUARD_FAILED", 2]);
  assert.equal(await codeOf(c.request("GET_INSTANCE", { instance_id: "x" })), "INSTANCE_NOT_FOUND");
  const before = (await c.request("WAL_STATS")).latest_offset as number;
  const ok = await c.request("BATCH", { mode: "atomic", ops: ops("CANCEL") });
  const results = ok.results as { status: string; result: { wal_offset: number } }[];
  assert.deepEqual(results.map((r) => r.status), ["ok", "ok", "ok"]);
  assert.equal(
    (await c.request("WAL_STATS")).latest_offset,
    before + 1,
    "one WAL record for the batch",
  );
  assert.equal((await c.request("GET_INSTANCE", { instance_id: "x" })).state, "cancelled");
  c.close();
});

Deno.test("sm rcp - transitions are published on the bus as sm.<machine>.<instance>", async () => {
  await using server = await startSm();
  const bus = await RawConnection.connect(server.tcpPort);
  await bus.hello(server.adminKey);
  await bus.reply(await bus.send(FrameType.Subscribe, { pattern: "sm.>" }));
  const c = await connectSm(server);
  await c.request("PUT_MACHINE", { machine: "order", version: 1, definition: ORDER });
  await c.request("CREATE_INSTANCE", {
    instance_id: "eu.42",
    machine: "order",
    version: 1,
    initial_ctx: { amount: 1 },
  });
  await c.request("APPLY_EVENT", { instance_id: "eu.42", event: "PAY" });
  const seen = [];
  for (let i = 0; i < 2; i++) seen.push(await bus.next((f) => f.type === FrameType.Message));
  assert.deepEqual(seen.map((m) => m.json.channel), ["sm.order.eu%2E42", "sm.order.eu%2E42"]);
  const body = JSON.parse(new TextDecoder().decode(seen[1].data));
  assert.deepEqual([body.instance_id, body.event, body.to_state], ["eu.42", "PAY", "paid"]);
  bus.close();
  c.close();
});

Deno.test("sm rcp - RSTMDB_CONFIG names a YAML file with rstmdb's keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catbus-rstmdb-config-" });
  await Deno.writeTextFile(`${dir}/rstmdb.yaml`, "network:\n  bind_addr: 127.0.0.1:0\n");
  await using server = await startCatbusd([], { env: { RSTMDB_CONFIG: `${dir}/rstmdb.yaml` } });
  assert.ok(server.rcpPort, "the RCP listener was started by the YAML file");
  const c = await connectSm(server);
  assert.deepEqual(await c.request("PING"), { pong: true });
  c.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sm rcp - sm is written by the server only, and the open Bus door cannot read it", async () => {
  await using server = await startSm([
    "--rcp-auth-required",
    "--rcp-token-hashes",
    hashToken("rcp-token"),
  ]);
  const c = await connectSm(server, { token: "rcp-token" });
  await c.request("PUT_MACHINE", { machine: "order", version: 1, definition: ORDER });
  const reader = await RawConnection.connect(server.tcpPort);
  const granted = await server.cli(["grant", "-p", "read", "sm.>"]);
  await reader.hello(granted.stdout.split("\n")[0]);
  const sub = await reader.reply(await reader.send(FrameType.Subscribe, { pattern: "sm.>" }));
  assert.equal(sub.type, FrameType.Ok, "a read grant on sm reads it");

  const stream = await fetch(`${server.busUrl}/?subject=sm.>`);
  assert.equal(stream.status, 403, "the open Bus door does not stream sm");
  await stream.body?.cancel();
  const forged = JSON.stringify({
    subject: "sm.order.order-001",
    payload: { to_state: "paid", ctx: { card: "4111" } },
  });
  const busPost = await fetch(`${server.busUrl}/`, { method: "POST", body: forged });
  assert.equal(busPost.status, 403, await busPost.text());
  const writeAll = (await server.cli(["grant", "-p", "all", ">"])).stdout.split("\n")[0];
  for (const token of [writeAll, server.adminKey]) {
    const w = await RawConnection.connect(server.tcpPort);
    await w.hello(token);
    const r = await w.reply(
      await w.send(FrameType.Publish, { channel: "sm.order.order-001" }, json(1)),
    );
    assert.equal(r.json.code, "forbidden", "no door publishes into sm");
    w.close();
  }

  await c.request("CREATE_INSTANCE", {
    instance_id: "order-001",
    machine: "order",
    version: 1,
    initial_ctx: { card: "4111" },
  });
  const m = await within(
    reader.next((f) => f.type === FrameType.Message),
    5000,
    "the real transition",
  );
  assert.equal(JSON.parse(new TextDecoder().decode(m.data)).kind, "created");
  reader.close();
  c.close();
});

Deno.test("sm rcp - ops are looked up by name only; failed AUTH is throttled per connection and address", async () => {
  await using server = await startSm([
    "--rcp-auth-required",
    "--rcp-token-hashes",
    hashToken("rcp-token"),
    "--rcp-auth-max-failures",
    "3",
  ]);
  const c = await connectSm(server, { token: "rcp-token" });
  for (const op of ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]) {
    assert.equal(await codeOf(c.request(op)), "BAD_REQUEST", op);
  }
  c.close();

  const guesser = await connectSm(server);
  const guess = (client: typeof guesser, token: string) =>
    codeOf(client.request("AUTH", { method: "bearer", token }));
  for (let i = 0; i < 3; i++) assert.equal(await guess(guesser, `guess-${i}`), "AUTH_FAILED");
  assert.equal(await guess(guesser, "guess-3"), "RATE_LIMITED", "this connection is used up");
  await assert.rejects(guesser.request("PING"), /closed/, "and closed");
  // A new connection from the same address gets no more tries this minute, even with the token.
  const again = await connectSm(server);
  assert.equal(await guess(again, "rcp-token"), "RATE_LIMITED");
  assert.equal(await codeOf(again.request("LIST_MACHINES")), "UNAUTHORIZED");
  again.close();
});

Deno.test("sm rcp - a connection that sends no request within --rcp-hello-timeout, or silent for --rcp-idle-timeout, is closed", async () => {
  await using server = await startSm([
    "--rcp-hello-timeout",
    "200ms",
    "--rcp-idle-timeout",
    "400ms",
  ]);
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.rcpPort! });
  assert.equal(
    await within(silent.read(new Uint8Array(16)), 10_000, "the silent connection's end"),
    null,
    "closed without a request",
  );
  silent.close();
  const ended = Promise.withResolvers<void>();
  const greeted = await connectSm(server, { onClose: () => ended.resolve() });
  assert.equal(greeted.closed, false, "HELLO keeps it open past the hello timeout");
  await within(ended.promise, 10_000, "the close after --rcp-idle-timeout");
});
