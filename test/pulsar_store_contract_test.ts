/** The Pulsar store contract (test/contracts/pulsar-store.ts) on the data directory, PostgreSQL and Valkey. */
import { runPulsarStoreContract } from "./contracts/pulsar-store.ts";
import { testDatabase } from "./helpers/postgres.ts";
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
  };
});

const probe = await testDatabase("the PostgreSQL Pulsar store contract");
await probe?.[Symbol.asyncDispose]();
if (probe) {
  runPulsarStoreContract("postgres", true, async () => {
    const db = (await testDatabase("the PostgreSQL Pulsar store contract"))!;
    const sql = openPool(db.url, "catbus test init", { max: 1 });
    await migrateSchema(sql, PULSAR_SCHEMA);
    await sql.end({ timeout: 1 });
    const opened: PulsarStore[] = [];
    return {
      async open() {
        const store = await PulsarStore.on(await PostgresStateBackend.open(db.url, quiet));
        opened.push(store);
        return store;
      },
      async dispose() {
        for (const s of opened) await s.close();
        await db[Symbol.asyncDispose]();
      },
    };
  });

  Deno.test("postgres pulsar store - refuses a database without its tables, naming catbus init", async () => {
    await using db = (await testDatabase("the PostgreSQL Pulsar store contract"))!;
    const refused = await PostgresStateBackend.open(db.url, quiet).then(
      () => undefined,
      (e: Error) => e.message,
    );
    if (!refused?.includes("catbus init")) throw new Error(`not refused clearly: ${refused}`);
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
    });
  });
}
