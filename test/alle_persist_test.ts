/**
 * `--alle-persist`: NOTIFYs stored in the namespace `pg`, replayed and resumed by native
 * subscribers; on a shared engine stored by the one node that holds the advisory lock.
 */
import assert from "node:assert/strict";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { type TestDatabase, testDatabase } from "./helpers/postgres.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import type { RawConnection } from "./helpers/raw.ts";
import {
  connect,
  publish as publishTo,
  range,
  receive,
  type Received,
  subscribe as subscribeTo,
} from "./helpers/cluster.ts";
import { FrameType } from "../client/shared/frame.ts";
import { deleteKeys, uniquePrefix, valkeyOrSkip } from "./helpers/valkey.ts";

const STORING = /alle: this node stores the PostgreSQL notifications/;

/** A catbusd bridging `db` with --alle-persist, once it is connected to PostgreSQL. */
async function persistingServer(
  db: TestDatabase,
  args: string[] = [],
  data?: string,
): Promise<TestServer> {
  const server = await startCatbusd([
    "--alle-bind",
    "127.0.0.1:0",
    "--alle-postgres-url",
    db.url,
    "--alle-persist",
    "--alle-listen-channels",
    "orders",
    "--no-webtransport",
    ...args,
  ], data ? { data } : {});
  await server.waitForLog(/alle: connected to PostgreSQL/, 30_000);
  return server;
}

async function subscribe(c: RawConnection, start: Record<string, unknown> = {}) {
  await subscribeTo(c, { pattern: "pg.orders", ...start });
}

async function publish(c: RawConnection, value: string) {
  const ok = await publishTo(c, value, undefined, "pg.orders");
  assert.equal(ok.type, FrameType.Ok, JSON.stringify(ok.json));
}

const values = (ms: Received[]) => ms.map((m) => m.value);
const seqs = (ms: Received[]) => ms.map((m) => m.seq);

/** A psql-side LISTEN on `channel` (the test's own connection). */
async function psqlListen(db: TestDatabase, channel: string) {
  const got = new AsyncQueue<string>();
  const { unlisten } = await db.sql.listen(channel, (payload) => got.push(payload));
  return { got, unlisten };
}

Deno.test("alle persist - NOTIFYs are stored in pg and replayed after a restart; a native publish is stored and sent once", async () => {
  await using db = await testDatabase("alle persist - one node");
  if (!db) return;
  const data = await Deno.makeTempDir({ prefix: "catbus-test-" });
  let server = await persistingServer(db, [], data);
  try {
    await db.sql`NOTIFY orders, 'one'`;
    await db.sql`select pg_notify('orders', 'two')`;
    const reader = await connect(server);
    await subscribe(reader, { from: "first" });
    assert.deepEqual(values(await receive(reader, 2)), ["one", "two"]);

    const psql = await psqlListen(db, "orders");
    const writer = await connect(server);
    await publish(writer, "three");
    assert.equal(await psql.got.next("the NOTIFY of the native publish"), "three");
    await db.sql`NOTIFY orders, 'four'`;
    assert.equal(await psql.got.next("the marker"), "four");
    assert.equal(psql.got.size, 0, "one NOTIFY per native publish");
    const live = await receive(reader, 2);
    assert.deepEqual(values(live), ["three", "four"], "the publish's NOTIFY is not stored again");
    assert.deepEqual(seqs(live), [3, 4]);
    await psql.unlisten();
    reader.close();
    writer.close();

    await server.stop();
    server = await persistingServer(db, [], data);
    const replay = await connect(server);
    await subscribe(replay, { from: "first" });
    const stored = await receive(replay, 4);
    assert.deepEqual(values(stored), ["one", "two", "three", "four"]);
    assert.deepEqual(seqs(stored), range(1, 4));
    // Resume from a position: what follows it, and nothing twice.
    const resumed = await connect(server);
    await subscribe(resumed, { resume: { pg: { epoch: stored[1].epoch, seq: 2 } } });
    await db.sql`NOTIFY orders, 'five'`;
    assert.deepEqual(values(await receive(resumed, 3)), ["three", "four", "five"]);
    replay.close();
    resumed.close();
  } finally {
    await server.stop();
    await Deno.remove(data, { recursive: true }).catch(() => {});
  }
});

const valkey = await valkeyOrSkip("the alle persist tests on a shared engine");

/** `catbus init` on `db`, through a node of its own, for the PostgreSQL engine. */
async function init(db: TestDatabase): Promise<void> {
  await using server = await startCatbusd(["--no-webtransport"]);
  const out = await server.cli(["init"], { CATBUS_DATABASE_URL: db.url });
  assert.equal(out.code, 0, out.stderr);
}

/** Two nodes of a shared engine, both bridging `db` with --alle-persist. */
async function sharedEngineScenario(db: TestDatabase, shared: string[]) {
  const holder = await persistingServer(db, shared);
  const other = await persistingServer(db, shared);
  try {
    await holder.waitForLog(STORING, 15_000);
    assert.doesNotMatch(other.log(), STORING);

    // A subscriber on the node that does not store gets each NOTIFY once, from the shared stream.
    const reader = await connect(other);
    await subscribe(reader);
    for (let i = 1; i <= 5; i++) await db.sql`select pg_notify('orders', ${String(i)})`;
    await db.sql`NOTIFY orders, 'marker'`;
    const first = await receive(reader, 6);
    assert.deepEqual(values(first), ["1", "2", "3", "4", "5", "marker"]);
    assert.deepEqual(seqs(first), range(1, 6));

    // A native publish on the other node: stored once (by the engine), sent as one NOTIFY.
    const psql = await psqlListen(db, "orders");
    const writer = await connect(other);
    await publish(writer, "from the other node");
    assert.equal(await psql.got.next("the NOTIFY of the publish"), "from the other node");
    await db.sql`NOTIFY orders, 'marker 2'`;
    assert.equal(await psql.got.next("the marker"), "marker 2");
    assert.equal(psql.got.size, 0, "one NOTIFY for one publish on two nodes");
    assert.deepEqual(values(await receive(reader, 2)), ["from the other node", "marker 2"]);
    await psql.unlisten();

    await holder.crash();
    await other.waitForLog(STORING, 15_000);
    await db.sql`NOTIFY orders, 'after the takeover'`;
    const after = await receive(reader, 1);
    assert.deepEqual(values(after), ["after the takeover"]);
    assert.equal(after[0].seq, 9);

    // The survivor replays the whole stream: every NOTIFY once, in order.
    const replay = await connect(other);
    await subscribe(replay, { from: "first" });
    assert.deepEqual(values(await receive(replay, 9)), [
      "1",
      "2",
      "3",
      "4",
      "5",
      "marker",
      "from the other node",
      "marker 2",
      "after the takeover",
    ]);
    await db.sql`NOTIFY orders, 'last'`;
    const last = await receive(replay, 1);
    assert.deepEqual(values(last), ["last"], "nothing was stored twice");
    for (const c of [reader, writer, replay]) c.close();
  } finally {
    await holder.stop();
    await other.stop();
  }
}

Deno.test({
  name: "alle persist - on Valkey one node stores each NOTIFY once; kill -9 it and the other " +
    "takes the lock and stores",
  ignore: !valkey,
  async fn() {
    await using db = await testDatabase("alle persist - two nodes on Valkey");
    if (!db) return;
    const prefix = uniquePrefix("alle-persist");
    try {
      await sharedEngineScenario(db, [
        "--engine",
        "valkey",
        "--valkey-url",
        valkey!,
        "--valkey-prefix",
        prefix,
      ]);
    } finally {
      await deleteKeys(valkey!, prefix);
    }
  },
});

Deno.test("alle persist - on the PostgreSQL engine (the same database) one node stores each NOTIFY once; kill -9 it and the other takes the lock and stores", async () => {
  await using db = await testDatabase("alle persist - two nodes on PostgreSQL");
  if (!db) return;
  await init(db);
  await sharedEngineScenario(db, ["--engine", "postgres", "--database-url", db.url]);
});
