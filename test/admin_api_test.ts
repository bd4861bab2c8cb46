import assert from "node:assert/strict";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { nativeClient } from "./helpers/native.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { admin, login } from "./helpers/admin.ts";
import { within } from "./helpers/deadline.ts";
import { makeDeadLetters } from "./helpers/dead-letters.ts";
import { connectSm, ORDER, startSm } from "./sm_helpers.ts";
import { ADMIN, api, login as pulsarLogin, startPulsar, userWith } from "./helpers/pulsar.ts";
import { alleServer } from "./helpers/alle.ts";
import { testDatabase } from "./helpers/postgres.ts";
import { deleteKeys, uniquePrefix, valkeyOrSkip } from "./helpers/valkey.ts";

const items = (a: { body: { items?: Record<string, unknown>[] } }) => a.body.items!;

Deno.test("admin api - console login: an HttpOnly SameSite=Strict cookie; changes need the CSRF header; other origins and bad keys refused", async () => {
  await using server = await startCatbusd(["--console-session", "10m"]);
  assert.equal((await admin(server, "GET", "/overview", undefined, {})).status, 401);
  assert.equal((await admin(server, "POST", "/login", { key: "wrong" }, {})).status, 401);
  const { cookie, csrf, setCookie } = await login(server);
  assert.match(
    setCookie,
    /^catbus_console=[\w-]{40,}; Path=\/admin\/api; HttpOnly; SameSite=Strict; Max-Age=600$/,
  );
  const session = { cookie };
  const overview = await admin(server, "GET", "/overview", undefined, session);
  assert.equal(overview.status, 200);
  assert.equal(overview.body.version, "0.1.0");
  assert.equal(overview.body.engine, "local");
  assert.equal(overview.body.clustered, false);
  assert.deepEqual((overview.body.nodes as { self: boolean }[]).map((n) => n.self), [true]);
  assert.equal((await admin(server, "GET", "/session", undefined, session)).body.csrf, csrf);

  const mint = { permissions: ["read"], patterns: ["a.>"] };
  const noCsrf = await admin(server, "POST", "/tokens", mint, session);
  assert.equal(noCsrf.status, 403);
  assert.match(noCsrf.body.message as string, /x-catbus-csrf/);
  assert.equal(
    (await admin(server, "POST", "/tokens", mint, { ...session, "x-catbus-csrf": "nope" })).status,
    403,
  );
  const withCsrf = { ...session, "x-catbus-csrf": csrf };
  assert.equal((await admin(server, "POST", "/tokens", mint, withCsrf)).status, 201);
  const crossSite = await admin(server, "POST", "/tokens", mint, {
    ...withCsrf,
    origin: "http://evil.example",
  });
  assert.equal(crossSite.status, 403);
  assert.match(crossSite.body.message as string, /own origin/);

  assert.equal(
    (await admin(server, "GET", "/overview", undefined, { authorization: "Bearer nope" })).status,
    401,
  );
  assert.equal((await admin(server, "GET", "/overview")).status, 200, "the admin key as bearer");

  assert.equal((await admin(server, "POST", "/logout", undefined, withCsrf)).status, 200);
  assert.equal(
    (await admin(server, "GET", "/overview", undefined, session)).status,
    401,
    "logged out",
  );
});

Deno.test("admin api - failed logins are throttled per address", async () => {
  await using server = await startCatbusd();
  for (let i = 0; i < 10; i++) {
    assert.equal((await admin(server, "POST", "/login", { key: `guess-${i}` }, {})).status, 401);
  }
  const throttled = await admin(server, "POST", "/login", { key: server.adminKey }, {});
  assert.equal(throttled.status, 429);
  assert.equal(throttled.body.code, "limit_exceeded");
});

Deno.test("admin api - namespaces paged and filtered; messages by seq, time and channel; publish and request", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  for (let i = 1; i <= 30; i++) await c.publish(i % 2 ? "orders.odd" : "orders.even", { i });
  await c.publish("other.x", 1);
  const listed = await admin(server, "GET", "/namespaces?q=ord");
  assert.deepEqual(items(listed).map((n) => [n.name, n.first_seq, n.last_seq]), [[
    "orders",
    1,
    30,
  ]]);
  // Bytes on disk and in memory: 30 records of a few dozen bytes each.
  const orders = items(listed)[0];
  assert.ok((orders.stored_bytes as number) > 30 * '{"i":10}'.length, String(orders.stored_bytes));
  assert.ok((orders.memory_bytes as number) > 30 * '{"i":10}'.length, String(orders.memory_bytes));
  const inbox = items(await admin(server, "GET", "/namespaces?q=_inbox"))[0];
  assert.equal(inbox.stored_bytes, null, "a memory-only namespace stores nothing");
  const paged = await admin(server, "GET", "/namespaces?limit=1&offset=1");
  assert.equal(items(paged).length, 1);
  assert.ok((paged.body.total as number) >= 2);

  const bySeq = await admin(server, "GET", "/namespaces/orders/messages?from_seq=10&limit=5");
  assert.deepEqual(items(bySeq).map((m) => m.seq), [10, 11, 12, 13, 14]);
  assert.equal(bySeq.body.next_seq, 15);
  assert.equal(items(bySeq)[0].payload, '{"i":10}');
  const odd = await admin(server, "GET", "/namespaces/orders/messages?channel=orders.odd&limit=3");
  assert.deepEqual(items(odd).map((m) => m.seq), [1, 3, 5]);
  const time = items(bySeq)[2].time as string;
  const byTime = await admin(
    server,
    "GET",
    `/namespaces/orders/messages?from_time=${time}&limit=1`,
  );
  assert.ok((items(byTime)[0].seq as number) <= 12);
  assert.equal((await admin(server, "GET", "/namespaces/nope/messages")).status, 404);

  const got = new AsyncQueue<unknown>();
  await c.subscribe("orders.>", (_ch, payload) => got.push(payload));
  const published = await admin(server, "POST", "/publish", {
    channel: "orders.new",
    payload: '{"from":"console"}',
  });
  assert.equal(published.status, 200, JSON.stringify(published.body));
  assert.equal(published.body.seq, 31);
  assert.deepEqual(await got.next(), { from: "console" });
  const refused = await admin(server, "POST", "/publish", { channel: "$sys.x", payload: "1" });
  assert.equal(refused.status, 403);
  assert.equal(
    (await admin(server, "POST", "/publish", { channel: "orders.x", payload: "{" })).status,
    400,
  );

  await c.subscribe("svc.double", (_ch, payload, meta) => c.respond(meta, (payload as number) * 2));
  const reply = await admin(server, "POST", "/publish", {
    channel: "svc.double",
    payload: "21",
    request: { timeout_ms: 10_000 },
  });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.equal((reply.body.reply as { payload: string }).payload, "42");
  const nobody = await admin(server, "POST", "/publish", {
    channel: "svc.none",
    payload: "1",
    request: {},
  });
  assert.equal(nobody.body.code, "no_responders");
  await c.disconnect();
});

/** The events of an SSE response, parsed, one at a time. */
async function* events(response: Response) {
  let buffered = "";
  for await (const text of response.body!.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    let end;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const name = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (name) yield { name, data: JSON.parse(data!) };
    }
  }
}

Deno.test("admin api - a tail streams new matching messages and takes nothing from a consumer", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  await c.createConsumer({ name: "work", pattern: "jobs.>", ackWait: 60_000 });
  const response = await fetch(`${server.httpUrl}/admin/api/tail?pattern=jobs.>`, {
    headers: { authorization: `Bearer ${server.adminKey}` },
  });
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  const stream = events(response);
  await c.publish("other.x", 0);
  await c.publish("jobs.a", { n: 1 });
  const first = await within(stream.next(), 15_000, "a tailed message");
  assert.deepEqual([first.value!.name, first.value!.data.channel, first.value!.data.payload], [
    "message",
    "jobs.a",
    '{"n":1}',
  ]);
  const worked = new AsyncQueue<unknown>();
  await c.consume("work", (m) => {
    worked.push(m.payload);
  });
  assert.deepEqual(await worked.next(), { n: 1 }, "the consumer still gets it");
  await stream.return(undefined);
  await c.disconnect();
});

async function mintToken(server: TestServer, body: Record<string, unknown>) {
  const minted = await admin(server, "POST", "/tokens", body);
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  return minted.body.token as string;
}

Deno.test("admin api - connections by door and client id; closing one ends it", async () => {
  await using server = await startCatbusd();
  const token = await mintToken(server, {
    permissions: ["all"],
    patterns: ["w.>"],
    client_id: "worker-1",
  });
  const worker = await nativeClient(server, token);
  const other = await nativeClient(server);
  const listed = await admin(server, "GET", "/connections?door=native&q=worker-1");
  assert.equal(items(listed).length, 1);
  const [conn] = items(listed);
  assert.equal(conn.client_id, "worker-1");
  assert.match(conn.remote as string, /^tcp:127\.0\.0\.1:\d+$/);
  assert.equal((await admin(server, "GET", "/connections?door=bus")).body.total, 0);
  const states = new AsyncQueue<string>();
  worker.onStateChange((s) => states.push(s));
  assert.equal((await admin(server, "POST", `/connections/${conn.id}/close`)).status, 200);
  assert.notEqual(await states.next("the worker's state change"), "connected");
  assert.equal((await admin(server, "POST", `/connections/${conn.id}/close`)).status, 404);
  assert.ok(
    items(await admin(server, "GET", "/connections")).every((c) => c.id !== conn.id),
    "gone from the list",
  );
  await worker.disconnect();
  await other.disconnect();
});

Deno.test("admin api - consumers and their dead letters: requeue sends one back once; purge hides them", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  await c.publish("orders.new", { id: 7 });
  await c.publish("orders.new", { id: 8 });
  const letters = await makeDeadLetters(c, { name: "flaky", pattern: "orders.>", count: 2 });
  const consumers = await admin(server, "GET", "/consumers?q=flak");
  assert.equal(items(consumers)[0].dead_lettered, 2);
  const dead = await admin(server, "GET", "/consumers/flaky/dead-letters");
  assert.deepEqual(items(dead).map((m) => [m.payload, m.requeued]), [['{"id":7}', false], [
    '{"id":8}',
    false,
  ]]);

  const again = new AsyncQueue<unknown>();
  await c.subscribe("orders.>", (_ch, payload) => again.push(payload));
  const seq = items(dead)[0].seq;
  const requeued = await admin(server, "POST", `/consumers/flaky/dead-letters/${seq}/requeue`);
  assert.equal(requeued.status, 200, JSON.stringify(requeued.body));
  assert.equal(requeued.body.channel, "orders.new");
  assert.deepEqual(await again.next(), { id: 7 });
  assert.equal(
    (await admin(server, "POST", `/consumers/flaky/dead-letters/${seq}/requeue`)).status,
    409,
  );
  assert.equal(
    items(await admin(server, "GET", "/consumers/flaky/dead-letters"))[0].requeued,
    true,
  );

  assert.equal((await admin(server, "POST", "/consumers/flaky/dead-letters/purge")).status, 200);
  // The requeued one was dead-lettered again (max deliver 1); wait for it before looking.
  await letters.next("the requeued message, dead again");
  const left = items(await admin(server, "GET", "/consumers/flaky/dead-letters"));
  assert.ok(
    left.every((m) => (m.seq as number) > (items(dead)[1].seq as number)),
    JSON.stringify(left),
  );
  assert.equal((await admin(server, "GET", "/consumers/nope/dead-letters")).status, 404);
  await c.disconnect();
});

Deno.test("admin api - roles and grants; a minted token works within its grants", async () => {
  await using server = await startCatbusd();
  const created = await admin(server, "POST", "/roles", {
    name: "billing",
    permissions: ["read"],
    patterns: ["bills.>"],
  });
  assert.equal(created.status, 201);
  const role = created.body.role as { id: string };
  assert.match(created.body.token as string, /^role-/);
  const granted = await admin(server, "POST", `/roles/${role.id}/grants`, {
    permissions: ["write"],
    patterns: ["bills.>"],
  });
  assert.deepEqual((granted.body.grants as unknown[]).length, 2);
  const revoked = await admin(server, "POST", `/roles/${role.id}/revoke`, {
    permissions: ["read"],
    patterns: ["bills.>"],
  });
  assert.deepEqual(revoked.body.grants, [{ permission: "write", pattern: "bills.>" }]);
  assert.equal(items(await admin(server, "GET", "/roles?q=bill")).length, 1);
  assert.equal((await admin(server, "DELETE", `/roles/${role.id}`)).status, 200);
  assert.equal(items(await admin(server, "GET", "/roles?q=bill")).length, 0);
  assert.equal(
    (await admin(server, "POST", "/tokens", { permissions: ["fly"], patterns: ["x"] })).status,
    400,
  );

  const admin_ = await nativeClient(server);
  await admin_.publish("chat.room", 0);
  await admin_.publish("other.room", 0);
  const token = await mintToken(server, {
    permissions: ["read", "write"],
    patterns: ["chat.>"],
    expires_in_seconds: 600,
  });
  const user = await nativeClient(server, token);
  await user.publish("chat.room", { hi: 1 });
  await assert.rejects(
    user.publish("other.room", 1),
    (e: { code?: string }) => e.code === "forbidden",
  );
  await user.disconnect();
  await admin_.disconnect();
});

Deno.test("console - /console and the admin API are off with --no-console, and need an admin key", async () => {
  await using server = await startCatbusd(["--no-console"]);
  for (const path of ["/console", "/admin/api/overview"]) {
    const response = await fetch(`${server.httpUrl}${path}`);
    assert.equal(response.status, 404, path);
    await response.body?.cancel();
  }
  const data = await Deno.makeTempDir({ prefix: "catbus-console-" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../src/server/main.ts", import.meta.url).pathname,
      "--console",
      "--data",
      data,
      "--bind",
      "127.0.0.1:0",
      "--tcp-bind",
      "127.0.0.1:0",
    ],
    stdin: "null",
  }).output();
  await Deno.remove(data, { recursive: true });
  assert.equal(out.code, 2);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /--console: the console needs an admin key .*--admin-key/,
  );
});

Deno.test("console - served by catbusd with a strict content security policy", async () => {
  await using server = await startCatbusd();
  for (const path of ["/console", "/console/console.js", "/console/console.css"]) {
    const response = await fetch(`${server.httpUrl}${path}`);
    assert.equal(response.status, 200, path);
    assert.match(
      response.headers.get("content-security-policy")!,
      /script-src 'self'.*frame-ancestors 'none'/,
    );
    assert.equal(response.headers.get("x-frame-options"), "DENY");
    await response.body?.cancel();
  }
});

Deno.test("admin api - the state-machine door's routes: definitions and instances, paged and filtered", async () => {
  await using server = await startSm();
  const off = await admin(server, "GET", "/rcp/machines");
  assert.equal(off.status, 200);
  const c = await connectSm(server);
  await c.request("PUT_MACHINE", { machine: "order", version: 1, definition: ORDER });
  for (let i = 0; i < 3; i++) {
    await c.request("CREATE_INSTANCE", {
      machine: "order",
      version: 1,
      instance_id: `o-${i}`,
      initial_ctx: { amount: 5 },
    });
  }
  await c.request("APPLY_EVENT", { instance_id: "o-1", event: "PAY" });
  const machines = await admin(server, "GET", "/rcp/machines");
  assert.deepEqual(machines.body.items, [{ machine: "order", versions: [1] }]);
  const definition = await admin(server, "GET", "/rcp/machines/order/1");
  assert.deepEqual((definition.body.definition as { initial: string }).initial, "created");
  const paid = await admin(server, "GET", "/rcp/instances?state=paid");
  assert.deepEqual((paid.body.instances as { id: string }[]).map((i) => i.id), ["o-1"]);
  const page = await admin(server, "GET", "/rcp/instances?machine=order&limit=2");
  assert.equal((page.body.instances as unknown[]).length, 2);
  assert.equal(page.body.has_more, true);
  assert.equal((await admin(server, "GET", "/rcp/instances/o-2")).body.state, "created");
  assert.equal((await admin(server, "GET", "/rcp/instances/nope")).status, 404);
  assert.equal((await admin(server, "GET", "/rcp/machines/nope/1")).status, 404);
  c.close();
});

Deno.test("admin api - a door's routes are there only while the door is on", async () => {
  await using server = await startCatbusd();
  for (const path of ["/rcp/machines", "/pulsar/users", "/pulsar/topics", "/alle/channels"]) {
    assert.equal((await admin(server, "GET", path)).status, 404, path);
  }
});

Deno.test("admin api - on a shared Valkey engine: the overview says clustered and lists the registry's nodes, a namespace's size on disk is not reported", async () => {
  const url = await valkeyOrSkip("admin api on valkey");
  if (!url) return;
  const prefix = uniquePrefix("admin");
  try {
    await using server = await startCatbusd([
      "--engine",
      "valkey",
      "--valkey-url",
      url,
      "--valkey-prefix",
      prefix,
    ]);
    const c = await nativeClient(server);
    await c.publish("shared.x", { i: 1 });
    const overview = (await admin(server, "GET", "/overview")).body;
    assert.deepEqual([overview.engine, overview.clustered], ["valkey", true]);
    // The registry lists this node with the URL its welcome advertises.
    const nodes = overview.nodes as { self: boolean; urls: string[]; id: string }[];
    assert.deepEqual(nodes.map((n) => n.self), [true]);
    assert.deepEqual(nodes[0].urls, [server.wsUrl.replace(/\/ws$/, "")]);
    assert.match(nodes[0].id, /^[a-z0-9]+$/);
    const [shared] = items(await admin(server, "GET", "/namespaces?q=shared"));
    assert.equal(shared.stored, true);
    assert.equal(shared.stored_bytes, null);
    assert.ok((shared.memory_bytes as number) > 0);
    await c.disconnect();
  } finally {
    await deleteKeys(url, prefix);
  }
});

Deno.test("admin api - the Pulsar door's users and topics, paged and filtered, without password hashes", async () => {
  await using server = await startPulsar();
  const root = (await pulsarLogin(server, ADMIN.username, ADMIN.password)).access_token;
  const alice = await userWith(server, root, "alice", ["read", "write"]);
  for (const [topic_name, is_public] of [["orders", false], ["news", true]] as const) {
    const made = await api(server, "POST", "/api/v1/topics", alice.token, {
      topic_name,
      is_public,
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
  }
  const users = await admin(server, "GET", "/pulsar/users");
  assert.deepEqual(items(users).map((u) => u.username), ["admin", "alice"]);
  assert.ok(!JSON.stringify(users.body).includes("hashed_password"));
  const one = items(await admin(server, "GET", "/pulsar/users?q=ali"));
  assert.deepEqual(one.map((u) => [u.username, u.permissions, u.owned_topics]), [
    ["alice", ["read", "write"], 2],
  ]);
  const topics = await admin(server, "GET", "/pulsar/topics?limit=1");
  assert.deepEqual(items(topics).map((t) => [t.topic_name, t.owner, t.is_public]), [
    ["news", "alice", true],
  ]);
  assert.equal(topics.body.total, 2);
  assert.deepEqual(
    items(await admin(server, "GET", "/pulsar/topics?q=ord")).map((t) => t.topic_name),
    [
      "orders",
    ],
  );
});

Deno.test("admin api - the Alle door's channels: what its LISTEN connection listens to", async () => {
  await using db = await testDatabase("admin api - alle channels");
  if (!db) return;
  await using server = await alleServer(db, "--alle-listen-channels", "orders,alerts");
  const channels = await admin(server, "GET", "/alle/channels");
  assert.equal(channels.body.connected, true);
  assert.deepEqual(items(channels), [
    { channel: "alerts", bus_channel: "pg.alerts" },
    { channel: "orders", bus_channel: "pg.orders" },
  ]);
  assert.deepEqual(
    items(await admin(server, "GET", "/alle/channels?q=ord")).map((c) => c.channel),
    [
      "orders",
    ],
  );
});

Deno.test("cli - catbus admin calls the admin API with the admin key", async () => {
  await using server = await startCatbusd();
  const token = { CATBUS_TOKEN: server.adminKey };
  const overview = await server.cli(["admin", "GET", "/overview"], token);
  assert.equal(overview.code, 0, overview.stderr);
  assert.equal(JSON.parse(overview.stdout).version, "0.1.0");
  const minted = await server.cli(
    ["admin", "POST", "/tokens", '{"permissions":["read"],"patterns":["a.>"]}'],
    token,
  );
  assert.equal(minted.code, 0, minted.stderr);
  assert.match(JSON.parse(minted.stdout).token, /^sub-/);
  const refused = await server.cli(["admin", "GET", "/overview"], { CATBUS_TOKEN: "wrong" });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /unauthorized: wrong admin key/);
  assert.equal((await server.cli(["admin", "PUT", "x"], token)).code, 2);
});
