import assert from "node:assert/strict";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";
import { type AlleMessage, alleServer, AlleSocket, alleUrl } from "./helpers/alle.ts";
import { nativeClient } from "./helpers/native.ts";
import { PgProxy, type TestDatabase, testDatabase } from "./helpers/postgres.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { RawConnection } from "./helpers/raw.ts";
import { FrameType } from "../client/shared/frame.ts";

const httpOf = (server: TestServer) => alleUrl(server).replace(/^ws/, "http");

async function subscribed(ws: AlleSocket, channel: string) {
  assert.deepEqual(await ws.request({ type: "subscribe", channel }), {
    type: "subscribed",
    channel,
  });
}

/** A psql-side LISTEN on `channel` (the test's own connection). */
async function psqlListen(db: TestDatabase, channel: string) {
  const got = new AsyncQueue<string>();
  const { unlisten } = await db.sql.listen(channel, (payload) => got.push(payload));
  return { got, unlisten };
}

const notification = (channel: string, payload: string): AlleMessage => ({
  type: "notification",
  channel,
  payload,
});

Deno.test("alle - NOTIFY from psql reaches only the channel's WebSocket subscribers; unsubscribe is confirmed", async () => {
  await using db = await testDatabase("alle - routing");
  if (!db) return;
  await using server = await alleServer(db);
  const orders = await AlleSocket.connect(alleUrl(server));
  const alerts = await AlleSocket.connect(alleUrl(server));
  await subscribed(orders, "orders");
  await subscribed(alerts, "alerts");
  await db.sql`NOTIFY orders, 'New order #123'`;
  await db.sql`NOTIFY alerts, 'System alert'`;
  assert.deepEqual(await orders.next(), notification("orders", "New order #123"));
  assert.deepEqual(await alerts.next(), notification("alerts", "System alert"));
  assert.deepEqual(await orders.request({ type: "unsubscribe", channel: "orders" }), {
    type: "unsubscribed",
    channel: "orders",
  });
  await db.sql`NOTIFY orders, 'after'`;
  await db.sql`NOTIFY alerts, 'marker'`;
  assert.deepEqual(await alerts.next(), notification("alerts", "marker"));
  // The orders NOTIFY was sent first: had it reached the unsubscribed client, it would be here.
  assert.deepEqual(await orders.request({ type: "subscribe", channel: "x" }), {
    type: "subscribed",
    channel: "x",
  });
  orders.close();
  alerts.close();
});

Deno.test("alle - notify from a WebSocket reaches a psql LISTEN; confirm is answered; bad input is an error", async () => {
  await using db = await testDatabase("alle - notify");
  if (!db) return;
  await using server = await alleServer(db);
  const ws = await AlleSocket.connect(alleUrl(server));
  const psql = await psqlListen(db, "orders");
  ws.send({ type: "notify", channel: "orders", payload: "New order #123" });
  assert.equal(await psql.got.next("the NOTIFY"), "New order #123");
  assert.deepEqual(
    await ws.request({ type: "notify", channel: "orders", payload: "two", confirm: true }),
    { type: "notified", channel: "orders" },
  );
  assert.equal(await psql.got.next("the second NOTIFY"), "two");

  assert.deepEqual(
    await ws.request({
      type: "notify",
      channel: "orders",
      payload: "x".repeat(7999),
      confirm: true,
    }),
    {
      type: "notified",
      channel: "orders",
    },
  );
  assert.equal((await psql.got.next("the 7,999-byte NOTIFY")).length, 7999);
  const big = await ws.request({ type: "notify", channel: "orders", payload: "x".repeat(8000) });
  assert.equal(big.type, "error");
  assert.match(
    String(big.message),
    /^Error: payload is 8000 bytes; PostgreSQL NOTIFY takes at most 7999/,
  );
  // Multi-byte characters count as bytes: 2,667 × 3 bytes = 8,001.
  const wide = await ws.request({ type: "notify", channel: "orders", payload: "€".repeat(2667) });
  assert.match(String(wide.message), /8001 bytes/);
  const long = await ws.request({ type: "subscribe", channel: "c".repeat(64) });
  assert.match(
    String(long.message),
    /^Error: channel name is 64 bytes; PostgreSQL allows at most 63/,
  );
  assert.match(
    String((await ws.request({ type: "notify", channel: "orders", payload: 5 })).message),
    /payload must be a string/,
  );
  assert.match(
    String((await ws.request({ type: "bogus" })).message),
    /^Error: Failed to parse client message/,
  );
  ws.send({ type: "notify", channel: "orders" } as Record<string, unknown>);
  ws.socket.send("not json");
  assert.match(String((await ws.next()).message), /payload must be a string/);
  assert.match(String((await ws.next()).message), /^Error: Failed to parse client message/);
  assert.equal(psql.got.size, 0, "nothing refused reached PostgreSQL");
  assert.deepEqual(await ws.request({ type: "authenticate", token: "t" }), {
    type: "error",
    message: "Authentication not configured",
  });
  await psql.unlisten();
  ws.close();
});

Deno.test("alle - channel names are quoted exactly: case is kept, quotes and SQL are just names", async () => {
  await using db = await testDatabase("alle - quoting");
  if (!db) return;
  await using server = await alleServer(db);
  const ws = await AlleSocket.connect(alleUrl(server));
  await subscribed(ws, "Orders");
  await subscribed(ws, 'we"ird');
  await subscribed(ws, "x; DROP TABLE victims; --");
  await db.sql`create table victims (id int)`;
  await db.sql.unsafe(`NOTIFY Orders, 'folded'`); // unquoted: the channel is orders
  await db.sql.unsafe(`NOTIFY "Orders", 'quoted'`);
  await db.sql`select pg_notify('Orders', 'function')`;
  await db.sql`select pg_notify(${'we"ird'}, 'odd')`;
  await db.sql`select pg_notify(${"x; DROP TABLE victims; --"}, 'sql')`;
  assert.deepEqual(await ws.next(), notification("Orders", "quoted"));
  assert.deepEqual(await ws.next(), notification("Orders", "function"));
  assert.deepEqual(await ws.next(), notification('we"ird', "odd"));
  assert.deepEqual(await ws.next(), notification("x; DROP TABLE victims; --", "sql"));
  assert.equal((await db.sql`select count(*)::int as n from victims`)[0].n, 0);
  // A NOTIFY from the bridge to a mixed-case name is heard by a quoted LISTEN.
  const psql = await psqlListen(db, "Orders");
  ws.send({ type: "notify", channel: "Orders", payload: "back" });
  assert.equal(await psql.got.next(), "back");
  assert.deepEqual(await ws.next(), notification("Orders", "back"));
  await psql.unlisten();
  ws.close();
});

/** Runs `sql` with the psql program, as a user would; false when psql is not installed. */
async function psqlCommand(db: TestDatabase, sql: string): Promise<boolean> {
  try {
    const out = await new Deno.Command("psql", {
      args: [db.url, "-v", "ON_ERROR_STOP=1", "-c", sql],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    if (Deno.env.get("CI") === "true") throw new Error("psql is needed in CI");
    console.log("SKIPPED the psql part: no psql on PATH");
    return false;
  }
}

Deno.test("alle - mixed case from psql: NOTIFY folds an unquoted name, a quoted one and pg_notify keep it", async () => {
  await using db = await testDatabase("alle - psql case");
  if (!db) return;
  await using server = await alleServer(db);
  const ws = await AlleSocket.connect(alleUrl(server));
  await subscribed(ws, "Orders");
  await subscribed(ws, "orders");
  const sent = await psqlCommand(
    db,
    `NOTIFY Orders, 'unquoted'; NOTIFY "Orders", 'quoted'; ` +
      `select pg_notify('Orders', 'function'); select pg_notify('orders', 'lower')`,
  );
  if (!sent) return ws.close();
  assert.deepEqual(await ws.next(), notification("orders", "unquoted"));
  assert.deepEqual(await ws.next(), notification("Orders", "quoted"));
  assert.deepEqual(await ws.next(), notification("Orders", "function"));
  assert.deepEqual(await ws.next(), notification("orders", "lower"));
  ws.close();
});

Deno.test("alle - GET /sse streams a channel's notifications and POST /notify answers success", async () => {
  await using db = await testDatabase("alle - sse");
  if (!db) return;
  await using server = await alleServer(db);
  const base = httpOf(server);
  const events = await fetch(`${base}/sse?channels=orders,alerts`);
  assert.equal(events.status, 200);
  assert.equal(events.headers.get("content-type"), "text/event-stream");
  const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
  const post = (body: unknown) =>
    fetch(`${base}/notify`, { method: "POST", body: JSON.stringify(body) }).then(async (r) => [
      r.status,
      await r.json(),
    ]);
  assert.deepEqual(await post({ channel: "alerts", payload: "via http" }), [200, {
    success: true,
  }]);
  await db.sql`NOTIFY orders, 'from psql'`;
  let text = "";
  while (!text.includes("from psql")) {
    const { value, done } = await within(reader.read(), 15_000, "SSE events");
    if (done) break;
    text += value;
  }
  assert.match(text, /event: message\ndata: \{"channel":"alerts","payload":"via http"\}\n\n/);
  assert.match(text, /event: message\ndata: \{"channel":"orders","payload":"from psql"\}\n\n/);
  const [status, body] = await post({ channel: "orders", payload: "y".repeat(8000) });
  assert.equal(status, 413);
  assert.equal(body.success, false);
  assert.match(body.error, /8000 bytes/);
  await reader.cancel();
});

Deno.test("alle - pg.<channel> is a Catbus channel both ways: NOTIFY reaches native subscribers, native publishes NOTIFY", async () => {
  await using db = await testDatabase("alle - pg namespace");
  if (!db) return;
  await using server = await alleServer(db, "--alle-listen-channels", "orders");
  const native = await nativeClient(server);
  const got = new AsyncQueue<{ channel: string; payload: unknown }>();
  await native.subscribe("pg.>", (channel, payload) => got.push({ channel, payload }));
  await db.sql`NOTIFY orders, 'from psql'`;
  assert.deepEqual(await got.next("pg.orders"), { channel: "pg.orders", payload: "from psql" });

  const ws = await AlleSocket.connect(alleUrl(server));
  await subscribed(ws, "orders");
  const psql = await psqlListen(db, "orders");
  await native.publish("pg.orders", "from catbus");
  assert.equal(await psql.got.next("the NOTIFY of a native publish"), "from catbus");
  assert.deepEqual(await ws.next(), notification("orders", "from catbus"));
  await native.publish("pg.orders", { id: 7 });
  assert.equal(await psql.got.next("a JSON object as its text"), '{"id":7}');
  assert.deepEqual(await got.next(), { channel: "pg.orders", payload: "from catbus" });
  assert.deepEqual(await got.next(), { channel: "pg.orders", payload: { id: 7 } });
  // The NOTIFY's copy coming back on the LISTEN connection is not published twice.
  await db.sql`NOTIFY orders, 'marker'`;
  assert.deepEqual(await got.next(), { channel: "pg.orders", payload: "marker" });
  assert.equal(got.size, 0);
  await psql.unlisten();
  ws.close();
  await native.disconnect();
});

Deno.test("alle - a native subscriber on pg.<channel> alone makes the bridge LISTEN, and its unsubscribe UNLISTEN", async () => {
  await using db = await testDatabase("alle - native listen");
  if (!db) return;
  // `marker` is listened to from the start: what arrives before it shows what was listened to.
  await using server = await alleServer(db, "--alle-listen-channels", "marker");
  const native = await nativeClient(server);
  const all = new AsyncQueue<{ channel: string; payload: unknown }>();
  await native.subscribe("pg.>", (channel, payload) => all.push({ channel, payload }));
  const orders = new AsyncQueue<unknown>();
  const sub = await native.subscribe("pg.orders", (_channel, payload) => orders.push(payload));
  // The subscribe's answer came after LISTEN: a NOTIFY right away is not missed.
  await db.sql`NOTIFY orders, 'one'`;
  assert.equal(await orders.next("NOTIFY orders on pg.orders"), "one");
  assert.deepEqual(await all.next(), { channel: "pg.orders", payload: "one" });
  await sub.unsubscribe();
  // The unsubscribe's answer does not wait for UNLISTEN: a round whose NOTIFY orders does not
  // arrive before its marker shows the bridge stopped listening (each round a bounded wait).
  let stopped = false;
  for (let round = 0; round < 50 && !stopped; round++) {
    await db.sql`select pg_notify('orders', ${`late ${round}`})`;
    await db.sql`select pg_notify('marker', ${`${round}`})`;
    const first = await all.next(`round ${round}`);
    if (first.channel === "pg.marker") stopped = true;
    else assert.deepEqual(await all.next(), { channel: "pg.marker", payload: `${round}` });
  }
  assert.ok(stopped, "the bridge still listens to orders after its last subscriber left");
  assert.equal(orders.size, 0);
  await native.disconnect();
});

Deno.test("alle - a reconnect tells native subscribers of pg.* about the gap (a gap notice, recovered: false)", async () => {
  await using db = await testDatabase("alle - native gap");
  if (!db) return;
  await using server = await alleServer(db, "--alle-listen-channels", "orders");
  const raw = await RawConnection.connect(server.tcpPort);
  await raw.hello(server.adminKey);
  await raw.reply(await raw.send(FrameType.Subscribe, { pattern: "pg.*" }));
  const killed = await db.sql`select pg_terminate_backend(pid) as done from pg_stat_activity
    where datname = ${db.name} and application_name = ${`catbusd ${server.pid} alle listen`}`;
  assert.deepEqual(killed.map((r) => r.done), [true]);
  const gap = await raw.next((f) => f.type === FrameType.Notice);
  assert.equal(gap.json.event, "gap");
  assert.equal(gap.json.code, "unavailable");
  assert.equal(gap.json.namespace, "pg");
  assert.equal(gap.json.recovered, false);
  assert.equal(typeof gap.json.after, "number");
  raw.close();
});

Deno.test("alle - Catbus tokens: authenticate, ?token= and Bearer; grants on pg.> apply; a revoke unsubscribes", async () => {
  await using db = await testDatabase("alle - tokens");
  if (!db) return;
  await using server = await alleServer(db, "--alle-auth", "token");
  const grant = async (...args: string[]) =>
    (await server.cli(["grant", ...args, "--client-id", "reader"])).stdout.split("\n")[0];
  const reader = await grant("-p", "read", "pg.orders");
  const ws = await AlleSocket.connect(alleUrl(server));
  assert.deepEqual(await ws.request({ type: "subscribe", channel: "orders" }), {
    type: "error",
    message: "Authentication required",
  });
  assert.match(
    String((await ws.request({ type: "authenticate", token: "sub-forged" })).message),
    /^Authentication failed/,
  );
  assert.deepEqual(await ws.request({ type: "authenticate", token: reader }), {
    type: "authenticated",
    user_id: "reader",
  });
  await subscribed(ws, "orders");
  const refused = await ws.request({ type: "subscribe", channel: "alerts" });
  assert.match(String(refused.message), /^Error: no read grant covers "pg\.alerts"/);
  const write = await ws.request({ type: "notify", channel: "orders", payload: "x" });
  assert.match(String(write.message), /^Error: no write grant covers "pg\.orders"/);

  const viaQuery = await AlleSocket.connect(`${alleUrl(server)}/?token=${reader}`);
  await subscribed(viaQuery, "orders");
  const viaHeader = await AlleSocket.connect(alleUrl(server), {
    authorization: `Bearer ${reader}`,
  });
  await subscribed(viaHeader, "orders");
  viaQuery.close();
  viaHeader.close();

  const base = httpOf(server);
  const notify = (headers: Record<string, string>) =>
    fetch(`${base}/notify`, {
      method: "POST",
      headers,
      body: JSON.stringify({ channel: "orders", payload: "p" }),
    }).then(async (r) => [r.status, await r.json()]);
  assert.deepEqual(await notify({}), [401, { success: false, error: "Authentication required" }]);
  const [status] = await notify({ authorization: `Bearer ${reader}` });
  assert.equal(status, 403);
  const sse = await fetch(`${base}/sse?channels=orders`);
  assert.equal(sse.status, 401);
  await sse.body?.cancel();

  // A role token whose read grant is revoked loses its subscription at once.
  const role = (await server.cli(["role", "create", "--name", "alle"])).stdout.split("\n")[0];
  await server.cli(["grant", "-p", "read", "pg.>", "--to", role]);
  const roleWs = await AlleSocket.connect(alleUrl(server));
  assert.equal((await roleWs.request({ type: "authenticate", token: role })).type, "authenticated");
  await subscribed(roleWs, "orders");
  await server.cli(["revoke", "-p", "read", "pg.>", "--from", role]);
  assert.match(
    String((await roleWs.next()).message),
    /^Error: the read grant for "pg\.orders" was revoked/,
  );
  assert.deepEqual(await roleWs.next(), { type: "unsubscribed", channel: "orders" });
  roleWs.close();
  ws.close();
});

Deno.test("alle - AUTH_FUNCTION decides who may connect, as Alle's does", async () => {
  await using db = await testDatabase("alle - auth function");
  if (!db) return;
  await db.sql.unsafe(`create schema auth;
    create function auth.check_token(t text) returns table (user_id text, authenticated boolean)
      language sql as $$ select 'user-' || t, t = 'good' $$;`);
  await using server = await startCatbusd(["--alle-bind", "127.0.0.1:0"], {
    env: { POSTGRES_URL: db.url, AUTH_FUNCTION: "auth.check_token", PATH: Deno.env.get("PATH")! },
  });
  await server.waitForLog(/alle: connected to PostgreSQL/, 30_000);
  const ws = await AlleSocket.connect(alleUrl(server));
  assert.equal(
    (await ws.request({ type: "subscribe", channel: "orders" })).message,
    "Authentication required",
  );
  assert.equal(
    (await ws.request({ type: "authenticate", token: "bad" })).message,
    "Authentication failed",
  );
  assert.deepEqual(await ws.request({ type: "authenticate", token: "good" }), {
    type: "authenticated",
    user_id: "user-good",
  });
  await subscribed(ws, "orders");
  ws.close();
});

Deno.test("alle - a killed LISTEN connection reconnects, listens again, and clients are told about the gap", async () => {
  await using db = await testDatabase("alle - reconnect");
  if (!db) return;
  await using server = await alleServer(db);
  const ws = await AlleSocket.connect(alleUrl(server));
  await subscribed(ws, "orders");
  await subscribed(ws, "Alerts");
  const killed = await db.sql`select pg_terminate_backend(pid) as done from pg_stat_activity
    where datname = ${db.name} and application_name = ${`catbusd ${server.pid} alle listen`}`;
  assert.deepEqual(killed.map((r) => r.done), [true]);
  const gap = await ws.next("the gap error");
  assert.equal(gap.type, "error");
  assert.match(
    String(gap.message),
    /^The connection to PostgreSQL was lost between \S+Z and \S+Z: notifications on orders, Alerts may have been lost$/,
  );
  await db.sql`NOTIFY orders, 'after the reconnect'`;
  await db.sql`select pg_notify('Alerts', 'also')`;
  assert.deepEqual(await ws.next(), notification("orders", "after the reconnect"));
  assert.deepEqual(await ws.next(), notification("Alerts", "also"));
  ws.close();
});

/** Opens a WebSocket by hand and never reads from it: a stalled client. */
async function stalledSocket(url: string, channel: string): Promise<Deno.Conn> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const request = `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Version: 13\r\n\r\n";
  await conn.write(new TextEncoder().encode(request));
  const text = JSON.stringify({ type: "subscribe", channel });
  const payload = new TextEncoder().encode(text);
  // One masked text frame (mask 0: the payload as is).
  const frame = new Uint8Array([0x81, 0x80 | payload.length, 0, 0, 0, 0, ...payload]);
  await conn.write(frame);
  return conn;
}

Deno.test("alle - while PostgreSQL is unreachable a subscribe is an error, never subscribed; once it is back, subscribed", async () => {
  await using db = await testDatabase("alle - unreachable");
  if (!db) return;
  const proxy = PgProxy.create();
  await using server = await startCatbusd([
    "--alle-bind",
    "127.0.0.1:0",
    "--alle-postgres-url",
    proxy.urlFor(db.url),
  ]);
  await server.waitForLog(/alle: PostgreSQL is unreachable; retrying/, 30_000);
  const ws = await AlleSocket.connect(alleUrl(server));
  const refused = await ws.request({ type: "subscribe", channel: "orders" });
  assert.equal(refused.type, "error", JSON.stringify(refused));
  assert.match(String(refused.message), /PostgreSQL is unreachable/);
  proxy.open();
  await server.waitForLog(/alle: connected to PostgreSQL/, 30_000);
  await subscribed(ws, "orders");
  await db.sql`NOTIFY orders, 'reachable'`;
  assert.deepEqual(await ws.next(), notification("orders", "reachable"));
  ws.close();
  proxy.cut();
});

Deno.test("alle - a client that stops reading is disconnected and never delays the others", async () => {
  await using db = await testDatabase("alle - stalled");
  if (!db) return;
  await using server = await alleServer(db, "--outbound-bytes", "1MiB");
  const stalled = await stalledSocket(alleUrl(server), "flood");
  const reader = await AlleSocket.connect(alleUrl(server));
  await subscribed(reader, "flood");
  const payload = "z".repeat(7000);
  const total = 2000; // 14 MB: more than the socket buffers and the queue bound together
  // In bursts well under the bound, each read by the reader before the next: it keeps up, the
  // stalled client falls behind.
  for (let i = 0; i < total; i += 20) {
    await db.sql.unsafe(
      Array.from({ length: 20 }, (_, k) => `select pg_notify('flood', '${i + k} ${payload}')`)
        .join(";"),
    );
    for (let k = i; k < i + 20; k++) {
      const m = await reader.next(`notification ${k}`);
      assert.equal(m.type, "notification", JSON.stringify(m));
      assert.equal(String(m.payload).split(" ")[0], String(k));
    }
  }
  // The stalled client was told why and closed: what it was sent ends with the reason.
  let seen = "";
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(1 << 16);
  for (;;) {
    const n = await within(stalled.read(buffer), 15_000, "the stalled socket's data");
    if (n === null) break;
    seen = (seen + decoder.decode(buffer.subarray(0, n))).slice(-4096);
    // The reason, then the close frame (0x88): the client would now answer the close.
    if (/fell \d+ bytes behind/.test(seen)) break;
  }
  assert.match(seen, /fell \d+ bytes behind/);
  stalled.close();
  reader.close();
});
