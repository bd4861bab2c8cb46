/**
 * What one change of the Pulsar store costs when it holds many users: seeds USERS users in the
 * one-document layout every version opens (the data directory's `state.json`, or the pulsar
 * schema's version-1 row, which `catbus init` then migrates), then makes CHANGES refresh tokens
 * (what each login stores) one after another and reports the time per change and the bytes
 * written for it: this process's write() bytes (data directory; /proc/self/io), PostgreSQL's WAL
 * or the bytes Valkey received (both server-wide: other clients of the same server add to them).
 * Run it on two trees to compare them. PostgreSQL and Valkey are the tests' (CATBUS_TEST_*).
 *
 *   node bin/deno.mjs run -A bench/pulsar-store.ts file|postgres|valkey [USERS=10000] [CHANGES=200]
 */
import { join } from "node:path";
import { testDatabase } from "../test/helpers/postgres.ts";
import { openPool } from "../src/connectors/postgres/connect.ts";
import { migrateSchema } from "../src/connectors/postgres/migrations.ts";
import { PulsarStore } from "../src/dialects/pulsar/store.ts";
import { PostgresStateBackend, PULSAR_SCHEMA } from "../src/dialects/pulsar/store-postgres.ts";
import { ValkeyStateBackend } from "../src/dialects/pulsar/store-valkey.ts";
import { Redis } from "iovalkey";
import { deleteKeys, TEST_VALKEY_URL, uniquePrefix } from "../test/helpers/valkey.ts";

const [where = "file", users = "10000", changes = "200"] = Deno.args;
const state = {
  version: 1,
  users: Array.from({ length: Number(users) }, (_, i) => ({
    user_id: crypto.randomUUID(),
    username: `user${i}`,
    email: `user${i}@example.com`,
    hashed_password: `$argon2id$v=19$m=65536,t=3,p=4$${"s".repeat(22)}$${"h".repeat(43)}`,
    is_active: true,
    created_at: new Date().toISOString(),
    permissions: ["read", "write"],
  })),
  topics: [],
  refresh: [],
  denied: {},
};

const written = async () =>
  Number(/wchar: (\d+)/.exec(await Deno.readTextFile("/proc/self/io"))![1]);

async function measure(store: PulsarStore, bytes: () => Promise<number>) {
  const userId = state.users[0].user_id;
  await store.issueRefresh(userId, 3_600_000); // warm-up
  const before = await bytes();
  const start = performance.now();
  for (let i = 0; i < Number(changes); i++) await store.issueRefresh(userId, 3_600_000);
  const ms = (performance.now() - start) / Number(changes);
  const per = (await bytes() - before) / Number(changes);
  console.log(
    `${where}, ${users} users: ${ms.toFixed(3)} ms and ${Math.round(per)} bytes written per change`,
  );
}

if (where === "file") {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "pulsar"));
    await Deno.writeTextFile(join(dir, "pulsar", "state.json"), JSON.stringify(state));
    const store = await PulsarStore.open(dir);
    await measure(store, written);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
} else if (where === "valkey") {
  const prefix = uniquePrefix("bench-pulsar-store");
  const client = new Redis(TEST_VALKEY_URL);
  await client.hset(`${prefix}pulsar:state`, "state", JSON.stringify(state), "version", 1);
  const log = () => {};
  const store = await PulsarStore.on(
    await ValkeyStateBackend.open(TEST_VALKEY_URL, { prefix, cluster: false, log }),
  );
  const received = async () =>
    Number(/total_net_input_bytes:(\d+)/.exec(await client.info("stats"))![1]);
  await measure(store, received);
  await store.close();
  client.disconnect();
  await deleteKeys(TEST_VALKEY_URL, prefix);
} else {
  await using db = await testDatabase("bench/pulsar-store.ts");
  if (!db) Deno.exit(1);
  const sql = openPool(db.url, "catbus bench", { max: 1 });
  await migrateSchema(sql, { ...PULSAR_SCHEMA, migrations: PULSAR_SCHEMA.migrations.slice(0, 1) });
  await sql`update catbus_pulsar_state set state = ${sql.json(state as never)}`;
  await migrateSchema(sql, PULSAR_SCHEMA);
  const store = await PulsarStore.on(await PostgresStateBackend.open(db.url, () => {}));
  const wal = async () => {
    const [row] = await sql`select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 as at`;
    return row.at as number;
  };
  await measure(store, wal);
  await store.close();
  await sql.end({ timeout: 1 });
}
