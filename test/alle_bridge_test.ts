import assert from "node:assert/strict";
import { AlleBridge, type AlleSubscriber } from "../src/dialects/alle/mod.ts";
import { CatbusLink, notifyTextOf } from "../src/dialects/alle/catbus-link.ts";
import { Broker } from "../src/core/broker.ts";
import type { BusMessage } from "../src/core/message.ts";
import { testDatabase } from "./helpers/postgres.ts";
import { AsyncQueue } from "./helpers/queue.ts";

const subscriber = () => {
  const got = new AsyncQueue<string>();
  const s: AlleSubscriber = {
    notification: ({ channel, payload }) => got.push(`${channel}:${payload}`),
    gap() {},
  };
  return { s, got };
};

Deno.test("alle bridge - LISTEN only on demand, reference-counted, as pg_listening_channels() shows", async () => {
  await using db = await testDatabase("alle bridge - refcount");
  if (!db) return;
  const bridge = await AlleBridge.connect({ postgresUrl: db.url, channels: ["fixed"] });
  try {
    assert.deepEqual(await bridge.listeningChannels(), ["fixed"]);
    const a = subscriber();
    const b = subscriber();
    await Promise.all([bridge.subscribe("orders", a.s), bridge.subscribe("orders", b.s)]);
    assert.deepEqual(await bridge.listeningChannels(), ["fixed", "orders"]);
    await db.sql`NOTIFY orders, 'one'`;
    assert.equal(await a.got.next(), "orders:one");
    assert.equal(await b.got.next(), "orders:one");
    await bridge.unsubscribe("orders", a.s);
    assert.deepEqual(await bridge.listeningChannels(), ["fixed", "orders"], "b is still on it");
    await bridge.unsubscribeAll(b.s);
    assert.deepEqual(await bridge.listeningChannels(), ["fixed"]);
    // Quick unsubscribe then subscribe ends listened to (LISTEN/UNLISTEN run in call order).
    const c = subscriber();
    await bridge.subscribe("flip", c.s);
    const off = bridge.unsubscribe("flip", c.s);
    const on = bridge.subscribe("flip", c.s);
    await Promise.all([off, on]);
    assert.deepEqual(await bridge.listeningChannels(), ["fixed", "flip"]);
    await bridge.notify("flip", "two");
    assert.equal(await c.got.next(), "flip:two");
  } finally {
    await bridge.close();
  }
});

Deno.test("alle bridge - native pg.<channel> subscribers LISTEN, counted with Alle clients, as pg_listening_channels() shows", async () => {
  await using db = await testDatabase("alle bridge - native interest");
  if (!db) return;
  const broker = new Broker({ history: { maxMessages: 100, maxBytes: 1 << 20 } });
  const link = new CatbusLink(broker, () => {});
  const bridge = await AlleBridge.connect({
    postgresUrl: db.url,
    onNotification: link.fromPostgres,
  });
  await link.start(bridge);
  try {
    const got = new AsyncQueue<string>();
    const native = { deliver: (m: BusMessage) => got.push(notifyTextOf(m)) };
    const wildcard = { deliver() {} };
    await broker.subscribe(wildcard, "pg.*");
    assert.deepEqual(await bridge.listeningChannels(), [], "a wildcard cannot be LISTENed");
    await broker.subscribe(native, "pg.orders");
    assert.deepEqual(await bridge.listeningChannels(), ["orders"]);
    await db.sql`NOTIFY orders, 'one'`;
    assert.equal(await got.next(), "one");
    const alle = subscriber();
    await bridge.subscribe("orders", alle.s);
    broker.unsubscribe(native, "pg.orders");
    assert.deepEqual(
      await bridge.listeningChannels(),
      ["orders"],
      "the Alle client is still on it",
    );
    await bridge.unsubscribe("orders", alle.s);
    assert.deepEqual(await bridge.listeningChannels(), []);
    await broker.subscribe(native, "pg.orders");
    await bridge.subscribe("orders", alle.s);
    await bridge.unsubscribe("orders", alle.s);
    assert.deepEqual(await bridge.listeningChannels(), ["orders"], "the native one is still on it");
    broker.unsubscribe(native, "pg.orders");
    // The UNLISTEN is queued on the LISTEN connection before this query, which sees it done.
    assert.deepEqual(await bridge.listeningChannels(), []);
  } finally {
    link.stop();
    await bridge.close();
  }
});
