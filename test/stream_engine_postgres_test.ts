import assert from "node:assert/strict";
import postgres from "postgres";
import { migrateSchema } from "../src/connectors/postgres/migrations.ts";
import { PostgresEngine } from "../src/streams/postgres/postgres-engine.ts";
import { STREAMS_SCHEMA } from "../src/streams/postgres/schema.ts";
import { type EngineOptions, runStreamEngineContract } from "./contracts/stream-engine.ts";
import { runSharedEngineContract } from "./contracts/shared-engine.ts";
import { within } from "./helpers/deadline.ts";
import { testDatabase } from "./helpers/postgres.ts";
import { json } from "./helpers/raw.ts";
import { followingHub } from "./helpers/valkey.ts";

const probe = await testDatabase("the PostgreSQL stream engine contract");
await probe?.[Symbol.asyncDispose]();

/** The engine on a fresh database (schema by the migrations); "lost records" deletes a namespace. */
async function postgresEngine(
  options: EngineOptions & { pollIntervalMs?: number; maxNamespaces?: number },
) {
  const db = (await testDatabase("the PostgreSQL stream engine"))!;
  await migrateSchema(db.sql, STREAMS_SCHEMA);
  const open = () =>
    PostgresEngine.connect({
      url: db.url,
      dedupeWindowMs: 120_000,
      retention: { maxAgeMs: 0, maxMessages: options.retainMessages ?? 0, maxBytes: 0 },
      pollIntervalMs: options.pollIntervalMs ?? 500,
      maxNamespaces: options.maxNamespaces,
    });
  const engines = [await open()];
  return {
    db,
    engine: engines[0],
    crashed: async () => engines[engines.push(await open()) - 1],
    async loseRecords(namespace: string) {
      await db.sql`delete from catbus_stream_messages where namespace = ${namespace}`;
      await db.sql`delete from catbus_stream_namespaces where name = ${namespace}`;
    },
    async dispose() {
      for (const engine of engines) await engine.close();
      await db[Symbol.asyncDispose]();
    },
  };
}

if (probe) {
  runStreamEngineContract("postgres", postgresEngine);
  runSharedEngineContract("postgres", postgresEngine);
}

Deno.test({
  name: "stream engine postgres - catbus_publish from SQL (the outbox): a committed " +
    "transaction's message is delivered, a rolled-back one's never is",
  ignore: !probe,
  async fn() {
    const e = await postgresEngine({});
    try {
      const hub = followingHub(e.engine);
      await hub.createNamespace("orders");
      const got: string[] = [];
      const two = Promise.withResolvers<void>();
      await hub.subscribe({
        deliver: (m) => {
          got.push(`${m.seq} ${new TextDecoder().decode(m.payload)}`);
          if (got.length === 2) two.resolve();
        },
      }, "orders.>");
      const app = postgres(e.db.url, { onnotice: () => {}, max: 1 });
      try {
        await app`create table orders (id int primary key)`;
        const order = (id: number) =>
          app.begin(async (tx) => {
            await tx`insert into orders values (${id})`;
            await tx`select * from catbus_publish('orders', array[catbus_message(
              'orders.created', ${tx.json({ id })}::jsonb, ${`order-${id}`})])`;
            if (id === 2) throw new Error("rolled back");
          });
        await order(1);
        await assert.rejects(order(2), /rolled back/);
        await order(3);
        await within(two.promise, 10_000, "the committed orders");
        // The rolled-back one gave its sequence back: the next commit took it.
        assert.deepEqual(got, ['1 {"id": 1}', '2 {"id": 3}']);
        const [{ n }] = await app`select count(*)::int as n from orders`;
        assert.equal(n, 2);
      } finally {
        await app.end({ timeout: 1 });
      }
    } finally {
      await e.dispose();
    }
  },
});

Deno.test({
  name: "stream engine postgres - age retention drops whole daily partitions; the oldest " +
    "retained sequence moves on",
  ignore: !probe,
  async fn() {
    const e = await postgresEngine({});
    try {
      const hub = followingHub(e.engine);
      await hub.createNamespace("ns");
      const sql = e.db.sql;
      // Three messages of days ago, as if written then, in a partition of their own.
      await sql`select catbus_stream_partitions(now() - interval '3 days', 1)`;
      const old = sql`now() - interval '3 days'`;
      for (let seq = 1; seq <= 3; seq++) {
        await sql`insert into catbus_stream_messages
          select 'ns', ${seq}, ${old}, data from (select catbus_message('ns.x', '1') as data) r`;
      }
      await sql`update catbus_stream_namespaces set top = 3 where name = 'ns'`;
      const before = await sql`select tableoid::regclass::text as part from catbus_stream_messages
        where seq <= 3`;
      assert.equal(new Set(before.map((r) => r.part)).size, 1);
      assert.notEqual(before[0].part, "catbus_stream_messages_default");
      // Its partition is dropped as it starts (and at every retention pass).
      const aged = await PostgresEngine.connect({
        url: e.db.url,
        dedupeWindowMs: 0,
        retention: { maxAgeMs: 86_400_000, maxMessages: 0, maxBytes: 0 },
        pollIntervalMs: 500,
      });
      try {
        const b = followingHub(aged);
        await b.load();
        await b.publish({ channel: "ns.x", payload: json(4) });
        await aged.applyRetention();
        const left = await sql`select seq::int from catbus_stream_messages order by seq`;
        assert.deepEqual(left.map((r) => r.seq), [4]);
        const [gone] = await sql`select to_regclass(${before[0].part}) as t`;
        assert.equal(gone.t, null, "the old partition was dropped");
        assert.equal(b.namespace("ns")!.firstSeq, 4);
      } finally {
        await aged.close();
      }
    } finally {
      await e.dispose();
    }
  },
});
