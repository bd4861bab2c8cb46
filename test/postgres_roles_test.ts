import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";
import { PgProxy, type TestDatabase, testDatabase } from "./helpers/postgres.ts";
import { RawConnection } from "./helpers/raw.ts";

/** Runs the CLI with roles in `db`. */
async function cli(server: TestServer, db: TestDatabase, ...args: string[]) {
  const out = await server.cli(args, { CATBUS_DATABASE_URL: db.url });
  assert.equal(out.code, 0, `catbus ${args.join(" ")}: ${out.stderr}`);
  return out.stdout;
}

/** `catbus init` on `db`, run through a server of its own (catbusd needs the schema first). */
async function initSchema(db: TestDatabase) {
  await using server = await startCatbusd();
  await cli(server, db, "init");
}

/**
 * Two catbusd on one initialized database, with a role reading `docs.>` and a subscriber to it on
 * the second; the poll is slowed down so only the signal under test can act.
 */
async function twoServersAndSubscriber(db: TestDatabase) {
  await initSchema(db);
  const args = ["--database-url", db.url, "--role-poll-interval", "10m"];
  const [a, b] = [await startCatbusd(args), await startCatbusd(args)];
  const role = await readerRole(a, db);
  return { a, b, role, c: await subscriber(b, role) };
}

/** A role with read and write on `docs.>`, made with the CLI. */
async function readerRole(server: TestServer, db: TestDatabase): Promise<string> {
  const role = (await cli(server, db, "role", "create", "--name", "Reader")).split("\n")[0];
  await cli(server, db, "grant", "-p", "read", "-p", "write", "docs.>", "--to", role);
  return role;
}

async function subscriber(server: TestServer, token: string) {
  const c = await RawConnection.connect(server.tcpPort);
  assert.equal((await c.hello(token)).type, FrameType.Welcome);
  const ok = await c.reply(await c.send(FrameType.Subscribe, { pattern: "docs.>" }));
  assert.equal(ok.type, FrameType.Ok, JSON.stringify(ok.json));
  return c;
}

const revokedNotice = async (c: RawConnection) => {
  const notice = await within(
    c.next((f) => f.type === FrameType.Notice),
    15_000,
    "the revoked notice",
  );
  assert.deepEqual([notice.json.event, notice.json.pattern], ["revoked", "docs.>"]);
};

Deno.test("postgres roles - catbus init migrates once under concurrency; status reports version and latency", async () => {
  await using db = await testDatabase("postgres roles - init");
  if (!db) return;
  await using server = await startCatbusd();
  const env = { CATBUS_DATABASE_URL: db.url };
  const [a, b] = await Promise.all([server.cli(["init"], env), server.cli(["init"], env)]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const said = a.stdout + b.stdout;
  assert.match(said, /migrated from version 0 to 1/);
  assert.match(said, /schema at version 1, nothing to do/);
  const [{ version }] = await db.sql`select version from catbus_schema`;
  assert.equal(version, 1);

  const status = await server.cli(["status", "--json", "--database-url", db.url]);
  assert.equal(status.code, 0, status.stdout + status.stderr);
  const report = JSON.parse(status.stdout);
  assert.equal(report.database.ok, true);
  assert.match(report.database.detail, /reachable, schema version 1, latency [\d.]+ ms/);

  await db.sql`update catbus_schema set version = 0`;
  const older = await server.cli(["status", "--database-url", db.url]);
  assert.equal(older.code, 1);
  assert.match(older.stdout, /database: FAILED .*run `catbus init`/);

  const proxy = PgProxy.create();
  const gone = await server.cli(["status", "--database-url", proxy.urlFor(db.url)]);
  assert.equal(gone.code, 1);
  assert.match(gone.stdout, /database: FAILED .*unreachable/);
});

Deno.test("postgres roles - catbusd refuses a schema newer than it knows and asks for catbus init on an older one", async () => {
  await using db = await testDatabase("postgres roles - schema check");
  if (!db) return;
  await assert.rejects(
    startCatbusd(["--database-url", db.url]),
    /schema is at version 0, this catbusd needs 1: run `catbus init/,
  );
  await using server = await startCatbusd();
  await cli(server, db, "init");
  await db.sql`update catbus_schema set version = 99`;
  await assert.rejects(
    startCatbusd(["--database-url", db.url]),
    /version 99, newer than this build knows \(1\): upgrade catbus/,
  );
});

Deno.test("postgres roles - roles, grants and token hashes (never tokens) live in the database", async () => {
  await using db = await testDatabase("postgres roles - storage");
  if (!db) return;
  await using server = await startCatbusd();
  await cli(server, db, "init");
  const role = await readerRole(server, db);
  const listed = JSON.parse(await cli(server, db, "role", "list", "--json"));
  assert.equal(listed.length, 1);
  assert.deepEqual(listed[0].grants, [
    { permission: "read", pattern: "docs.>" },
    { permission: "write", pattern: "docs.>" },
  ]);
  const dump = JSON.stringify(await db.sql`select * from catbus_roles`);
  assert.equal(dump.includes(role), false, "the token itself is not stored");
  assert.equal(dump.includes(listed[0].id), true);
  // Not in the data directory: that store stays empty.
  const local = await server.cli(["role", "list", "--json"]);
  assert.deepEqual(JSON.parse(local.stdout), []);
  await cli(server, db, "revoke", "-p", "write", "docs.>", "--from", listed[0].id);
  assert.match(await cli(server, db, "role", "show", role), /read:docs\.>\n$/);
  await cli(server, db, "role", "delete", role);
  assert.deepEqual(JSON.parse(await cli(server, db, "role", "list", "--json")), []);
});

Deno.test("postgres roles - a revoke made through one catbusd's database reaches a subscriber on another (doorbell)", async () => {
  await using db = await testDatabase("postgres roles - doorbell");
  if (!db) return;
  const { a, b, role, c } = await twoServersAndSubscriber(db);
  await using _a = a;
  await using _b = b;
  await cli(a, db, "revoke", "-p", "read", "docs.>", "--from", role);
  await revokedNotice(c);
  await cli(a, db, "role", "delete", role);
  const bye = await c.next((f) => f.type === FrameType.Error && f.id === 0);
  assert.equal(bye.json.code, "revoked");
  await c.untilClosed();
});

Deno.test("postgres roles - a revoke while the listen connection is terminated still lands (reload on reconnect)", async () => {
  await using db = await testDatabase("postgres roles - reconnect");
  if (!db) return;
  const { a, b, role, c } = await twoServersAndSubscriber(db);
  await using _a = a;
  await using _b = b;
  const killed = await db.sql`select pg_terminate_backend(pid) as done from pg_stat_activity
    where datname = ${db.name} and application_name = ${`catbusd ${b.pid} roles-listen`}`;
  assert.deepEqual(killed.map((r) => r.done), [true]);
  await cli(a, db, "revoke", "-p", "read", "docs.>", "--from", role);
  await revokedNotice(c);
  await b.waitForLog(/role doorbell reconnected/);
  c.close();
});

Deno.test("postgres roles - the change-counter poll applies a change when no doorbell rings", async () => {
  await using db = await testDatabase("postgres roles - poll");
  if (!db) return;
  await initSchema(db);
  await using server = await startCatbusd([
    "--database-url",
    db.url,
    "--role-poll-interval",
    "200ms",
  ]);
  const role = await readerRole(server, db);
  const c = await subscriber(server, role);
  // A change written without the doorbell (as by hand in psql): only the poll can see it.
  await db.sql.begin(async (tx) => {
    await tx`delete from catbus_role_grants where permission = 'read'`;
    await tx`update catbus_role_changes set version = version + 1`;
  });
  await revokedNotice(c);
  c.close();
});

Deno.test("postgres roles - unreachable at start: catbusd retries with back-off, /ready is 503 until it is back and when it drops", async () => {
  await using db = await testDatabase("postgres roles - unreachable");
  if (!db) return;
  await using init = await startCatbusd();
  await cli(init, db, "init");
  const proxy = PgProxy.create();
  await using server = await startCatbusd([
    "--database-url",
    proxy.urlFor(db.url),
    "--role-poll-interval",
    "200ms",
  ]);
  await server.waitForLog(/role database is unreachable; retrying/);
  const ready = async () => {
    const r = await fetch(`${server.httpUrl}/ready`);
    return [r.status, (await r.json()).status];
  };
  assert.deepEqual(await ready(), [503, "database_unavailable"]);
  const role = await readerRole(init, db);
  proxy.open();
  await server.waitForLog(/role database connected/, 30_000);
  assert.deepEqual(await ready(), [200, "ready"]);
  const c = await subscriber(server, role);

  proxy.cut();
  await server.waitForLog(/role database unreachable; grants stay as they are/, 30_000);
  assert.deepEqual(await ready(), [503, "database_unavailable"]);
  // Existing grants stay in force: the subscription still works.
  const pong = await c.reply(await c.send(FrameType.Ping));
  assert.equal(pong.type, FrameType.Pong);
  assert.equal(c.has((f) => f.type === FrameType.Notice), false);
  // The first connect logged it already: wait for the line this reconnect adds.
  const before = server.log().length;
  proxy.open();
  await server.waitForLog(/role database reachable again/, 30_000, before);
  assert.deepEqual(await ready(), [200, "ready"]);
  c.close();
  proxy.cut();
});
