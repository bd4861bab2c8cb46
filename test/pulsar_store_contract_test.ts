/** The Pulsar store contract (test/contracts/pulsar-store.ts) on the data directory, PostgreSQL and Valkey. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Redis } from "iovalkey";
import { runPulsarStoreContract } from "./contracts/pulsar-store.ts";
import { PgProxy, testDatabase } from "./helpers/postgres.ts";
import { within } from "./helpers/deadline.ts";
import { deleteKeys, uniquePrefix, valkeyOrSkip } from "./helpers/valkey.ts";
import { PulsarStore } from "../src/dialects/pulsar/store.ts";
import { openPool } from "../src/connectors/postgres/connect.ts";
import { migrateSchema } from "../src/connectors/postgres/migrations.ts";
import { PostgresStateBackend, PULSAR_SCHEMA } from "../src/dialects/pulsar/store-postgres.ts";
import { ValkeyStateBackend } from "../src/dialects/pulsar/store-valkey.ts";

const quiet = () => {};

runPulsarStoreContract("file", false, async () => {
  const dir = await Deno.makeTempDir();
  return {
    open: () => PulsarStore.open(dir),
    dispose: () => Deno.remove(dir, { recursive: true }),
    async storeOldLayout(state) {
      await Deno.mkdir(join(dir, "pulsar"));
      await Deno.writeTextFile(join(dir, "pulsar", "state.json"), JSON.stringify(state));
    },
  };
});

/** The pulsar schema as it was before records had tables: the one-document row. */
const ONE_DOCUMENT = { ...PULSAR_SCHEMA, migrations: PULSAR_SCHEMA.migrations.slice(0, 1) };

const probe = await testDatabase("the PostgreSQL Pulsar store contract");
await probe?.[Symbol.asyncDispose]();
if (probe) {
  runPulsarStoreContract("postgres", true, async () => {
    const db = (await testDatabase("the PostgreSQL Pulsar store contract"))!;
    const sql = openPool(db.url, "catbus test init", { max: 1 });
    await migrateSchema(sql, ONE_DOCUMENT);
    const opened: PulsarStore[] = [];
    return {
      async open() {
        await migrateSchema(sql, PULSAR_SCHEMA); // what `catbus init` does
        const store = await PulsarStore.on(await PostgresStateBackend.open(db.url, quiet));
        opened.push(store);
        return store;
      },
      async dispose() {
        for (const s of opened) await s.close();
        await sql.end({ timeout: 1 });
        await db[Symbol.asyncDispose]();
      },
      async storeOldLayout(state) {
        await sql`update catbus_pulsar_state set version = 1, state = ${sql.json(state as never)}`;
      },
    };
  });

  Deno.test("postgres pulsar store - a node that lost its connection reloads what changed meanwhile", async () => {
    await using db = (await testDatabase("the PostgreSQL Pulsar store contract"))!;
    const sql = openPool(db.url, "catbus test init", { max: 1 });
    await migrateSchema(sql, PULSAR_SCHEMA);
    await sql.end({ timeout: 1 });
    const proxy = PgProxy.create();
    proxy.open();
    const a = await PulsarStore.on(await PostgresStateBackend.open(db.url, quiet));
    const b = await PulsarStore.on(await PostgresStateBackend.open(proxy.urlFor(db.url), quiet));
    try {
      const reloaded = new Promise<void>((resolve) => {
        b.onChange(() => b.userByName("while-away") && resolve());
      });
      proxy.cut();
      await a.createUser({
        username: "while-away",
        email: null,
        hashed_password: "$argon2id$…",
        permissions: ["read"],
      });
      proxy.open();
      await within(reloaded, 30_000, "B reloading after its reconnect");
    } finally {
      proxy.cut();
      await a.close();
      await b.close();
    }
  });

  Deno.test("postgres pulsar store - pruning goes on past a record another node removed first", async () => {
    await using db = (await testDatabase("the PostgreSQL Pulsar store contract"))!;
    const sql = openPool(db.url, "catbus test init", { max: 1 });
    try {
      await migrateSchema(sql, ONE_DOCUMENT);
      const past = Date.now() - 1000;
      const refresh = [{
        jti: "r-gone",
        user_id: "u",
        secret_hash: "00",
        parent_jti: null,
        expires_at: past,
        revoked: false,
      }];
      const state = { version: 1, users: [], topics: [], refresh, denied: { "d-old": 1 } };
      await sql`update catbus_pulsar_state set state = ${sql.json(state)}`;
      await migrateSchema(sql, PULSAR_SCHEMA);
      const store = await PulsarStore.on(await PostgresStateBackend.open(db.url, quiet));
      await sql`delete from catbus_pulsar_refresh`; // pruned by another node, unheard
      await store.deny("d-new", Math.floor(Date.now() / 1000) + 60);
      await store.close();
      const left = await sql`select jti from catbus_pulsar_denied`;
      assert.deepEqual(left.map((r) => r.jti), ["d-new"]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  Deno.test("postgres pulsar store - refuses a database without its tables, naming catbus init", async () => {
    await using db = (await testDatabase("the PostgreSQL Pulsar store contract"))!;
    const refused = await PostgresStateBackend.open(db.url, quiet).then(
      () => undefined,
      (e: Error) => e.message,
    );
    assert.match(refused ?? "", /catbus init/, "refused, naming catbus init");
  });
}

const valkeyUrl = await valkeyOrSkip("the Valkey Pulsar store contract");
if (valkeyUrl) {
  runPulsarStoreContract("valkey", true, () => {
    const prefix = uniquePrefix("pulsar-store");
    const opened: PulsarStore[] = [];
    return Promise.resolve({
      async open() {
        const backend = await ValkeyStateBackend.open(valkeyUrl, {
          prefix,
          cluster: false,
          log: quiet,
        });
        const store = await PulsarStore.on(backend);
        opened.push(store);
        return store;
      },
      async dispose() {
        for (const s of opened) await s.close();
        await deleteKeys(valkeyUrl, prefix);
      },
      async storeOldLayout(state) {
        const client = new Redis(valkeyUrl, { maxRetriesPerRequest: 1 });
        try {
          await client.hset(`${prefix}pulsar:state`, "state", JSON.stringify(state), "version", 1);
        } finally {
          client.disconnect();
        }
      },
    });
  });
}
