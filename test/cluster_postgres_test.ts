/**
 * Several catbusd nodes on one PostgreSQL (the stream engine): real processes on free ports, a
 * fresh database per test made by `catbus init`, dropped afterwards.
 */
import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import {
  clusterLeaseScenario,
  clusterMembersScenario,
  clusterScenarios,
  connect,
  publish,
  range,
  readiness,
  receive,
  subscribe,
} from "./helpers/cluster.ts";
import { PgProxy, type TestDatabase, testDatabase } from "./helpers/postgres.ts";
import { clusterRequestScenario, eventually, welcomeNodes } from "./helpers/cluster-requests.ts";

const probe = await testDatabase("the PostgreSQL cluster tests");
await probe?.[Symbol.asyncDispose]();

/** `catbus init` on `db` (twice: the second finds nothing to do), through a node of its own. */
async function init(db: TestDatabase): Promise<void> {
  await using server = await startCatbusd(["--no-webtransport"]);
  for (const expected of [/Streams schema migrated from version 0 to 3/, /nothing to do/]) {
    const out = await server.cli(["init"], { CATBUS_DATABASE_URL: db.url });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, expected);
  }
}

/** `n` nodes on a fresh database (reached at `urls[i]`, default the database itself). */
async function withCluster(
  n: number,
  fn: (nodes: TestServer[], db: TestDatabase) => Promise<void>,
  args: string[] = [],
  urls?: (db: TestDatabase) => string[],
) {
  await using db = (await testDatabase("the PostgreSQL cluster"))!;
  await init(db);
  const nodeUrls = urls?.(db) ?? Array(n).fill(db.url);
  const nodes: TestServer[] = [];
  try {
    for (const url of nodeUrls) {
      nodes.push(
        await startCatbusd([
          "--engine",
          "postgres",
          "--database-url",
          url,
          "--no-webtransport",
          ...args,
        ]),
      );
    }
    await fn(nodes, db);
  } finally {
    for (const node of nodes) await node.stop();
  }
}

clusterScenarios("postgres", withCluster, !probe);
clusterRequestScenario("postgres", (n, fn, args) => withCluster(n, fn, args), !probe);

Deno.test({
  name: "cluster postgres - the welcome lists both nodes' URLs; a node that stops leaves the list",
  ignore: !probe,
  async fn() {
    await withCluster(2, async ([n1, n2]) => {
      const own = (n: TestServer) => n.wsUrl.replace(/\/ws$/, "");
      const urls = [own(n1), own(n2)].sort();
      await eventually("node 1 to list node 2", async () => {
        const nodes = (await welcomeNodes(n1)).sort();
        return JSON.stringify(nodes) === JSON.stringify(urls) ? true : undefined;
      });
      await n2.stop();
      await eventually("node 1 to drop node 2", async () => {
        const nodes = await welcomeNodes(n1);
        return JSON.stringify(nodes) === JSON.stringify([own(n1)]) ? true : undefined;
      });
    }, ["--node-ttl", "1500ms"]);
  },
});

Deno.test({
  name: "cluster postgres - a node's PostgreSQL unreachable: /ready is 503 and publishes fail " +
    "with unavailable; back, the node recovers by itself and fills what it missed",
  ignore: !probe,
  async fn() {
    const proxy = PgProxy.create();
    proxy.open();
    try {
      await withCluster(
        2,
        async ([n1, n2]) => {
          const publisher = await connect(n2);
          await publish(publisher, 1);
          const sub = await connect(n1);
          await subscribe(sub, { from: "first" });
          assert.deepEqual((await receive(sub, 1)).map((m) => m.seq), [1]);
          const own = await connect(n1);
          proxy.cut();
          await readiness(n1, 503);
          const refused = await publish(own, "while down");
          assert.equal(refused.type, FrameType.Error);
          assert.equal(refused.json.code, "unavailable");
          for (let i = 2; i <= 30; i++) await publish(publisher, i);
          proxy.open();
          await readiness(n1, 200);
          const filled = await receive(sub, 29);
          assert.deepEqual(filled.map((m) => m.seq), range(2, 30));
          const after = await publish(own, 31);
          assert.equal(after.type, FrameType.Ok, JSON.stringify(after.json));
          assert.deepEqual((await receive(sub, 1)).map((m) => m.value), [31]);
          for (const c of [publisher, sub, own]) c.close();
        },
        [],
        (db) => [proxy.urlFor(db.url), db.url],
      );
    } finally {
      proxy.cut();
    }
  },
});

clusterLeaseScenario("postgres", withCluster, !probe, [
  "--postgres-consumer-interval",
  "300ms",
]);
clusterMembersScenario("postgres", withCluster, !probe, [
  "--postgres-consumer-interval",
  "300ms",
  "--node-ttl",
  "2s",
]);

Deno.test({
  name: "cluster postgres - an application's own transaction publishes with catbus_publish " +
    "(outbox): delivered on every node once it commits, never when it rolls back",
  ignore: !probe,
  async fn() {
    await withCluster(2, async (nodes, db) => {
      const subs = [];
      for (const node of nodes) {
        const s = await connect(node);
        await subscribe(s);
        subs.push(s);
      }
      const order = (id: number, commit: boolean) =>
        db.sql.begin(async (tx) => {
          await tx`create table if not exists orders (id int primary key)`;
          await tx`insert into orders values (${id})`;
          await tx`select * from catbus_publish('feed', array[
            catbus_message('feed.orders', ${tx.json({ id })}::jsonb, ${`order-${id}`})])`;
          if (!commit) throw new Error("rolled back");
        });
      // The namespace is made by the first commit: every node opens it on the announcement.
      await order(1, true);
      await assert.rejects(order(2, false), /rolled back/);
      await order(3, true);
      for (const s of subs) {
        const got = await receive(s, 2);
        assert.deepEqual(got.map((m) => [m.seq, m.value]), [[1, { id: 1 }], [2, { id: 3 }]]);
      }
      // A publish through a node comes after them: nothing else was delivered in between.
      const publisher = await connect(nodes[0]);
      await publish(publisher, "after");
      for (const s of subs) assert.deepEqual((await receive(s, 1)).map((m) => m.value), ["after"]);
      for (const c of [...subs, publisher]) c.close();
    });
  },
});
