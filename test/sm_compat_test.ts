/**
 * What rstmdb's clients (JS, Python, Java, Rust) send and expect, against a real catbusd:
 * sessions without HELLO, AUTH without auth configured, soft deletes, watch streams, results
 * and rstmdb's configuration. Written from the protocol, not from the clients.
 */
import assert from "node:assert/strict";
import { hashToken } from "../src/dialects/rcp/token-hashes.ts";
import { codeOf, connectSm, EventLog, ORDER, startSm } from "./sm_helpers.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";
import { code, frame, Raw, request } from "./helpers/rcp-raw.ts";

const put = { machine: "order", version: 1, definition: ORDER };
const create = (instance_id: string) => ({
  instance_id,
  machine: "order",
  version: 1,
  initial_ctx: { amount: 1 },
});

Deno.test("sm compat - AUTH: any non-empty token without auth.required; empty tokens and other methods fail", async () => {
  await using open = await startSm();
  // rstmdb's JS and Python examples always send a token.
  const c = await connectSm(open, { token: "whatever-the-example-says" });
  const auth = (params: Record<string, unknown>) => c.request("AUTH", params);
  assert.deepEqual(await auth({ method: "bearer", token: "another" }), { authenticated: true });
  assert.deepEqual(await auth({ token: "no-method" }), { authenticated: true }, "Java's AUTH");
  assert.equal(await codeOf(auth({ method: "bearer", token: "" })), "AUTH_FAILED");
  assert.equal(await codeOf(auth({ method: "basic", token: "x" })), "AUTH_FAILED");
  c.close();

  await using closed = await startSm([
    "--rcp-auth-required",
    "--rcp-token-hashes",
    hashToken("right"),
  ]);
  const d = await connectSm(closed);
  assert.equal(
    await codeOf(d.request("AUTH", { method: "basic", token: "right" })),
    "AUTH_FAILED",
  );
  assert.equal(await codeOf(d.request("AUTH", { method: "bearer", token: "" })), "AUTH_FAILED");
  assert.equal(
    await codeOf(d.request("AUTH", { method: "bearer", token: "wrong" })),
    "AUTH_FAILED",
  );
  assert.equal(await codeOf(d.request("LIST_MACHINES")), "UNAUTHORIZED");
  assert.deepEqual(await d.request("AUTH", { method: "bearer", token: "right" }), {
    authenticated: true,
  });
  d.close();
});

Deno.test("sm compat - WATCH from_offset 0 is live only on a WAL never compacted; a positive offset replays", async () => {
  await using server = await startSm();
  const c = await connectSm(server);
  await c.request("PUT_MACHINE", put);
  await c.request("CREATE_INSTANCE", create("a"));
  await c.request("CREATE_INSTANCE", create("b"));
  await c.request("APPLY_EVENT", { instance_id: "a", event: "PAY" });
  const live = new EventLog();
  const w = await connectSm(server, { onEvent: live.push });
  // rstmdb's Java client always sends from_offset 0.
  const all = await w.request("WATCH_ALL", { from_offset: 0 });
  const one = await w.request("WATCH_INSTANCE", { instance_id: "b", from_offset: 0 });
  await c.request("APPLY_EVENT", { instance_id: "b", event: "PAY" });
  const events = await within(live.count(2), 5000, "two live events");
  assert.deepEqual(
    events.map((e) => [e.subscription_id, e.instance_id, e.event]).sort(),
    [[all.subscription_id, "b", "PAY"], [one.subscription_id, "b", "PAY"]].sort(),
  );

  const replayed = new EventLog();
  const r = await connectSm(server, { onEvent: replayed.push });
  await r.request("WATCH_ALL", { from_offset: 1 });
  assert.deepEqual(
    (await within(replayed.count(2), 5000, "replay")).map((e) => `${e.instance_id}:${e.event}`),
    ["a:PAY", "b:PAY"],
  );
  for (const x of [c, w, r]) x.close();
});

Deno.test("sm compat - DELETE is soft: a second one answers ok, GET shows it deleted, the id is not reused, also after a restart", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-sm-delete-" });
  let server = await startSm([], { data });
  let c = await connectSm(server);
  await c.request("PUT_MACHINE", put);
  for (const id of ["x", "y", "z"]) await c.request("CREATE_INSTANCE", create(id));
  const first = await c.request("DELETE_INSTANCE", { instance_id: "x" });
  assert.deepEqual(await c.request("DELETE_INSTANCE", { instance_id: "x" }), first);
  const check = async (id: string) => {
    const got = await c.request("GET_INSTANCE", { instance_id: id });
    assert.deepEqual([got.state, got.deleted, got.ctx], ["created", true, { amount: 1 }], id);
    assert.equal(await codeOf(c.request("CREATE_INSTANCE", create(id))), "INSTANCE_EXISTS");
    assert.equal(
      await codeOf(c.request("APPLY_EVENT", { instance_id: id, event: "PAY" })),
      "INSTANCE_NOT_FOUND",
    );
  };
  await check("x");
  const listed = await c.request("LIST_INSTANCES", {});
  assert.deepEqual((listed.instances as { id: string }[]).map((i) => i.id), ["y", "z"]);
  assert.equal(listed.total, 2);
  await c.request("COMPACT", { force_snapshot: true });
  await c.request("DELETE_INSTANCE", { instance_id: "y" });
  c.close();
  await server.stop();

  // x is in the snapshot, y in the WAL after it.
  server = await startSm([], { data });
  c = await connectSm(server);
  await check("x");
  await check("y");
  assert.equal((await c.request("LIST_INSTANCES", {})).total, 1);
  c.close();
  await server.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("sm compat - watchers get applied events only, unless HELLO asks for lifecycle_events", async () => {
  await using server = await startSm();
  const plain = new EventLog();
  const lifecycle = new EventLog();
  const p = await connectSm(server, { onEvent: plain.push });
  const l = await connectSm(server, { features: ["lifecycle_events"], onEvent: lifecycle.push });
  assert.ok(!(p.hello.features as string[]).includes("lifecycle_events"));
  assert.deepEqual(l.hello.features, ["lifecycle_events"]);
  await p.request("WATCH_ALL", {});
  await l.request("WATCH_ALL", {});
  const c = await connectSm(server);
  await c.request("PUT_MACHINE", put);
  await c.request("CREATE_INSTANCE", create("z"));
  await c.request("APPLY_EVENT", { instance_id: "z", event: "PAY" });
  await c.request("DELETE_INSTANCE", { instance_id: "z" });
  await c.request("CREATE_INSTANCE", create("m"));
  await c.request("APPLY_EVENT", { instance_id: "m", event: "CANCEL" });
  const seen = (log: EventLog, n: number) =>
    within(log.count(n), 5000, `${n} events`).then((events) =>
      events.map((e) => `${e.instance_id}:${e.event}`)
    );
  assert.deepEqual(await seen(plain, 2), ["z:PAY", "m:CANCEL"]);
  assert.deepEqual(await seen(lifecycle, 5), [
    "z:$created",
    "z:PAY",
    "z:$deleted",
    "m:$created",
    "m:CANCEL",
  ]);
  assert.deepEqual(lifecycle.events.map((e) => e.kind).slice(0, 3), [
    "created",
    "transition",
    "deleted",
  ]);
  for (const x of [p, l, c]) x.close();
});

Deno.test("sm compat - no HELLO needed; after a jsonl HELLO the client may keep sending frames; wire_modes as rstmdb picks them", async () => {
  await using server = await startSm();
  const c = await Raw.open(server.rcpPort!);
  await c.send(frame(request("1", "INFO")));
  assert.equal(code(await c.response()), "ok", "INFO before HELLO");
  const hello = async (id: string, wire_modes: string[]) => {
    await c.send(frame(request(id, "HELLO", { protocol_version: 1, wire_modes })));
    return (await c.response()).result as { wire_mode: string };
  };
  assert.equal((await hello("2", ["jsonl", "binary_json"])).wire_mode, "binary_json");
  assert.equal((await hello("3", ["msgpack"])).wire_mode, "binary_json", "unknown: binary");
  assert.equal((await hello("4", ["jsonl"])).wire_mode, "jsonl");
  // rstmdb switches only its output: its clients keep sending frames.
  c.jsonl = true;
  await c.send(frame(request("5", "PING")));
  const pong = await c.response();
  assert.deepEqual([pong.id, pong.result], ["5", { pong: true }]);
  c.close();
  // A client that switches both ways is understood too.
  const both = await Raw.open(server.rcpPort!);
  await both.send(frame(request("1", "HELLO", { protocol_version: 1, wire_modes: ["jsonl"] })));
  assert.equal(code(await both.response()), "ok");
  both.jsonl = true;
  await both.send(new TextEncoder().encode(JSON.stringify({ id: "2", op: "PING" }) + "\n"));
  assert.equal((await both.response()).id, "2");
  both.close();
});

Deno.test("sm compat - results: atomic BATCH, SNAPSHOT_INSTANCE, FLUSH_ALL, duplicate transitions, rstmdb's checksum", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-sm-flush-" });
  let server = await startSm([
    "--sm-allow-flush-all",
    "--rcp-auth-required",
    "--rcp-token-hashes",
    hashToken("t"),
  ], { data });
  const anonymous = await connectSm(server);
  assert.equal(await codeOf(anonymous.request("FLUSH_ALL")), "UNAUTHORIZED");
  anonymous.close();
  let c = await connectSm(server, { token: "t" });
  // rstmdb's checksum is a CRC-32C in hex; it ignores the param, and so does Catbus for that form.
  assert.equal(
    (await c.request("PUT_MACHINE", { ...put, checksum: "deadbeef" })).created,
    true,
  );
  assert.equal(
    await codeOf(c.request("PUT_MACHINE", { ...put, version: 2, checksum: "0".repeat(64) })),
    "BAD_REQUEST",
    "a SHA-256 checksum that does not match",
  );
  const duplicate = await c.request("PUT_MACHINE", {
    machine: "dup",
    version: 1,
    definition: {
      ...ORDER,
      transitions: [...ORDER.transitions, { from: ["paid"], event: "CANCEL", to: "created" }],
    },
  }).catch((e) => e);
  assert.equal(duplicate.code, "BAD_REQUEST");
  assert.match(duplicate.message, /duplicate transition from "paid" on event "CANCEL"/);

  const batch = await c.request("BATCH", {
    mode: "atomic",
    ops: [
      { op: "CREATE_INSTANCE", params: create("b1") },
      { op: "APPLY_EVENT", params: { instance_id: "b1", event: "SHIP" } },
    ],
  }).catch((e) => e);
  assert.equal(batch.code, "BAD_REQUEST");
  assert.match(batch.message, /^atomic batch failed: /);
  assert.deepEqual([batch.details.code, batch.details.op_index], ["INVALID_TRANSITION", 1]);
  assert.equal(
    await codeOf(c.request("GET_INSTANCE", { instance_id: "b1" })),
    "INSTANCE_NOT_FOUND",
  );

  await c.request("CREATE_INSTANCE", create("s"));
  assert.equal((await c.request("SNAPSHOT_INSTANCE", { instance_id: "s" })).instance_id, "s");
  assert.deepEqual(await c.request("FLUSH_ALL"), {
    flushed: true,
    instances_removed: 1,
    machines_removed: 1,
  });
  assert.deepEqual(await c.request("LIST_MACHINES"), { items: [] });
  c.close();
  await server.stop();
  server = await startSm([], { data });
  c = await connectSm(server);
  assert.deepEqual(await c.request("LIST_MACHINES"), { items: [] }, "flushed after a restart");
  assert.equal(await codeOf(c.request("FLUSH_ALL")), "BAD_REQUEST", "off unless allowed");
  c.close();
  await server.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("sm compat - no frame over 16 MiB is sent: an error answers instead, and a watcher is ended", async () => {
  await using server = await startSm(["--sm-fsync", "never"]);
  const c = await connectSm(server);
  await c.request("PUT_MACHINE", put);
  const nine = 9 * 1024 * 1024;
  await c.request("CREATE_INSTANCE", {
    ...create("big"),
    initial_ctx: { amount: 1, a: "a".repeat(nine) },
  });
  const watched = new EventLog();
  const w = await connectSm(server, { onEvent: watched.push });
  await w.request("WATCH_INSTANCE", { instance_id: "big" });
  const applied = await c.request("APPLY_EVENT", {
    instance_id: "big",
    event: "CANCEL",
    payload: { b: "b".repeat(nine) },
  }).catch((e) => e);
  assert.equal(applied.code, "BAD_REQUEST");
  assert.equal(
    applied.details.succeeded,
    true,
    "the event was applied; only its answer is too big",
  );
  const got = await c.request("GET_INSTANCE", { instance_id: "big" }).catch((e) => e);
  assert.equal(got.code, "BAD_REQUEST");
  assert.match(got.message, /frame limit/);
  assert.deepEqual(await c.request("PING"), { pong: true }, "the connection stays usable");
  const [end] = await within(watched.count(1), 5000, "the watcher's end");
  assert.equal(end.type, "end");
  c.close();
  w.close();
});

Deno.test("sm compat - a full rstmdb config file starts catbusd, with one warning for what Catbus does not implement", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catbus-rstmdb-yaml-" });
  await Deno.writeTextFile(
    `${dir}/rstmdb.yaml`,
    `# Every key of rstmdb's configuration.
network:
  bind_addr: "127.0.0.1:0"
  idle_timeout_secs: 300
  max_connections: 2
storage:
  data_dir: "${dir}/sm"
  wal_segment_size_mb: 1
  fsync_policy:
    every_ms: 100
  max_machine_versions: 1
  allow_instance_recreate: false
  allow_flush_all: true
compaction:
  enabled: true
  events_threshold: 10000
  size_threshold_mb: 0
  min_interval_secs: 60
auth:
  required: false
  token_hashes: []
tls:
  enabled: false
  require_client_cert: false
metrics:
  enabled: false
  bind_addr: "0.0.0.0:9090"
replication:
  role: standalone
  mode: async
  sync_replicas: 1
  sync_timeout_ms: 5000
  max_lag_seconds: 30
  max_lag_entries: 10000
  poll_interval_ms: 10
  heartbeat_interval_secs: 5
  reconnect_delay_secs: 2
  lag_check_interval_secs: 10
`,
  );
  await using server = await startCatbusd([], { env: { RSTMDB_CONFIG: `${dir}/rstmdb.yaml` } });
  const warnings = server.log().split("\n").filter((l) => /does not implement/.test(l));
  assert.equal(warnings.length, 1, server.log());
  for (const key of ["storage.allow_instance_recreate", "compaction.min_interval_secs"]) {
    assert.ok(warnings[0].includes(key), key);
  }
  assert.match(warnings[0], /metrics/);
  assert.match(warnings[0], /replication/);
  const c = await connectSm(server);
  await c.request("PUT_MACHINE", put);
  assert.equal(
    await codeOf(c.request("PUT_MACHINE", { ...put, version: 2 })),
    "MACHINE_VERSION_LIMIT_EXCEEDED",
    "storage.max_machine_versions",
  );
  assert.equal((await c.request("FLUSH_ALL")).flushed, true, "storage.allow_flush_all");
  const second = await connectSm(server);
  await assert.rejects(connectSm(server), "network.max_connections");
  second.close();
  c.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sm compat - RSTMDB_MAX_MACHINE_VERSIONS, RSTMDB_MAX_CONNECTIONS and RSTMDB_IDLE_TIMEOUT (seconds)", async () => {
  await using server = await startSm([], {
    env: {
      RSTMDB_MAX_MACHINE_VERSIONS: "1",
      RSTMDB_MAX_CONNECTIONS: "1",
      RSTMDB_IDLE_TIMEOUT: "1",
    },
  });
  const closed = Promise.withResolvers<void>();
  const idle = await connectSm(server, { onClose: closed.resolve });
  await within(closed.promise, 10_000, "the idle connection closed by the server");
  assert.ok(idle.closed);
  const c = await connectSm(server);
  await c.request("PUT_MACHINE", put);
  assert.equal(
    await codeOf(c.request("PUT_MACHINE", { ...put, version: 2 })),
    "MACHINE_VERSION_LIMIT_EXCEEDED",
  );
  await assert.rejects(connectSm(server));
  c.close();
});
