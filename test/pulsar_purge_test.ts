/**
 * A deleted topic's messages are gone through every door — history, long-poll, WebSocket
 * `offset`, a native replay of `pulsar.>` — for a topic re-created under the same name, and after a
 * restart; `storage.max_messages_per_topic` keeps each topic's newest messages. On the local log,
 * on Valkey (PULSAR_STORAGE_BACKEND=valkey) and on PostgreSQL (--engine postgres).
 */
import assert from "node:assert/strict";
import {
  ADMIN,
  api,
  login,
  openWs,
  type PulsarServer,
  pulsarValkeyEnv,
  startPulsar,
} from "./helpers/pulsar.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { grantToken, nativeClient } from "./helpers/native.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { testDatabase } from "./helpers/postgres.ts";
import { startPrivateRedis } from "./helpers/valkey.ts";

/** Starts a node on the storage under test; every call reaches the same stored data. */
type Start = (extraArgs?: string[]) => Promise<PulsarServer>;

const adminToken = async (server: PulsarServer) =>
  (await login(server, ADMIN.username, ADMIN.password)).access_token;

const payloads = (messages: { payload: unknown }[]) => messages.map((m) => m.payload);

async function publish(server: PulsarServer, token: string, topic: string, payload: unknown) {
  const sent = await api(server, "POST", "/api/v1/messages", token, { topic, payload });
  assert.equal(sent.status, 201, JSON.stringify(sent.body));
}

/**
 * Checks that topic `doomed` holds exactly `expected` (oldest first) through every door, and that
 * `other` still holds its message; publishes a marker (to know a replay is over) and returns
 * what the topic holds then.
 */
async function assertDoomedHolds(server: PulsarServer, expected: unknown[]): Promise<unknown[]> {
  const admin = await adminToken(server);
  const history = await api(server, "GET", "/api/v1/topics/doomed/messages?order=asc", admin);
  assert.deepEqual(payloads(history.body.messages), expected, "history");
  const poll = await api(server, "POST", "/messages/poll", admin, {
    topics: ["doomed"],
    since: { doomed: "0-0" },
    timeout: 1,
  });
  assert.deepEqual(payloads(poll.body.messages), expected, "long-poll since 0");

  const ws = await openWs(server, `?token=${admin}`);
  ws.send({ type: "subscribe", topics: ["doomed"], offset: "earliest" });
  await ws.next("subscribed");
  const native = await nativeClient(server, await grantToken(server, "-p", "read", "pulsar.>"));
  const replayed = new AsyncQueue<{ channel: string; payload: unknown }>();
  await native.subscribe(
    "pulsar.>",
    (channel, payload) => replayed.push({ channel, payload }),
    { from: "first" },
  );

  const marker = { marker: expected.length };
  await publish(server, admin, "doomed", marker);
  const held = [...expected, marker];
  const pushed = [];
  for (const _ of held) pushed.push((await ws.next("message")).payload);
  assert.deepEqual(pushed, held, "WebSocket offset earliest, then live");
  ws.close();

  const seen: { channel: string; payload: unknown }[] = [];
  while (JSON.stringify(seen.at(-1)?.payload) !== JSON.stringify(marker)) {
    seen.push(await replayed.next("the native replay of pulsar.> up to the marker"));
  }
  assert.deepEqual(
    seen.filter((m) => m.channel === "pulsar.doomed").map((m) => m.payload),
    held,
    "a native replay of pulsar.> with a read grant",
  );
  assert.deepEqual(
    seen.filter((m) => m.channel === "pulsar.other").map((m) => m.payload),
    [{ other: "kept" }],
    "another topic's messages stay",
  );
  await native.disconnect();
  return held;
}

async function deletedTopicStaysEmpty(start: Start): Promise<void> {
  let held: unknown[];
  {
    await using server = await start();
    const admin = await adminToken(server);
    for (let n = 1; n <= 3; n++) await publish(server, admin, "doomed", { n });
    await publish(server, admin, "other", { other: "kept" });
    const deleted = await api(server, "DELETE", "/api/v1/topics/doomed", admin);
    assert.equal(deleted.status, 204);
    const made = await api(server, "POST", "/api/v1/topics", admin, { topic_name: "doomed" });
    assert.equal(made.status, 201);
    held = await assertDoomedHolds(server, []);
  }
  await using server = await start();
  await assertDoomedHolds(server, held);
}

async function topicsKeepTheirNewest(start: Start): Promise<void> {
  const args = ["--pulsar-max-messages-per-topic", "5"];
  const newest = async (server: PulsarServer) => {
    const h = await api(server, "GET", "/api/v1/topics/capped/messages", await adminToken(server));
    return payloads(h.body.messages).map((p) => (p as { n: number }).n);
  };
  {
    await using server = await start(args);
    const admin = await adminToken(server);
    const bulk = await api(server, "POST", "/api/v1/messages/bulk", admin, {
      messages: Array.from({ length: 12 }, (_, i) => ({ topic: "capped", payload: { n: i + 1 } })),
    });
    assert.equal(bulk.body.summary.accepted, 12);
    assert.deepEqual(await newest(server), [12, 11, 10, 9, 8]);
  }
  await using server = await start(args);
  assert.deepEqual(await newest(server), [12, 11, 10, 9, 8], "after a restart");
  const admin = await adminToken(server);
  for (let n = 13; n <= 15; n++) await publish(server, admin, "capped", { n });
  assert.deepEqual(await newest(server), [15, 14, 13, 12, 11], "counted again after the restart");
}

/** The local log in one data directory for every start. */
async function onLocalLog(scenario: (start: Start, data: string) => Promise<void>) {
  const data = await Deno.makeTempDir({ prefix: "catbus-pulsar-purge-" });
  try {
    await scenario((args = []) => startPulsar(args, { data }), data);
  } finally {
    await Deno.remove(data, { recursive: true });
  }
}

async function onValkey(scenario: (start: Start) => Promise<void>) {
  const redis = await startPrivateRedis();
  if (!redis) return;
  try {
    const env = pulsarValkeyEnv(redis.url);
    await scenario((args = []) => startPulsar(args, { env }));
  } finally {
    await redis.stop();
  }
}

async function onPostgres(what: string, scenario: (start: Start) => Promise<void>) {
  await using db = await testDatabase(what);
  if (!db) return;
  {
    await using init = await startCatbusd();
    const out = await init.cli(["init"], { CATBUS_DATABASE_URL: db.url });
    assert.equal(out.code, 0, out.stderr);
  }
  const engine = ["--engine", "postgres", "--database-url", db.url];
  await scenario((args = []) => startPulsar([...engine, ...args]));
}

Deno.test("pulsar purge - a deleted topic's messages are gone through every door, after a restart too", () =>
  onLocalLog(async (start, data) => {
    await deletedTopicStaysEmpty(start);
    await using tool = await startCatbusd();
    const dump = await tool.cli(["dump", "--data", data, "--namespace", "pulsar"]);
    assert.equal(dump.code, 0, dump.stderr);
    const doomed = dump.stdout.trim().split("\n").map((l) => JSON.parse(l))
      .filter((l) => l.subject === "pulsar.doomed").map((l) => l.payload);
    assert.deepEqual(doomed, [{ marker: 0 }, { marker: 1 }], "catbus dump (and copy) skip them");
  }));

Deno.test("pulsar purge - storage.max_messages_per_topic keeps a topic's newest messages", () =>
  onLocalLog(topicsKeepTheirNewest));

Deno.test("pulsar purge on valkey - a deleted topic's messages are gone through every door", () =>
  onValkey(deletedTopicStaysEmpty));

Deno.test("pulsar purge on valkey - storage.max_messages_per_topic keeps a topic's newest", () =>
  onValkey(topicsKeepTheirNewest));

Deno.test("pulsar purge on postgres - a deleted topic's messages are gone through every door", () =>
  onPostgres("pulsar purge on postgres", deletedTopicStaysEmpty));

Deno.test("pulsar purge on postgres - storage.max_messages_per_topic keeps a topic's newest", () =>
  onPostgres("pulsar purge on postgres - cap", topicsKeepTheirNewest));
