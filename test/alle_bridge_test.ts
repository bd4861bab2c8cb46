import assert from "node:assert/strict";
import { AlleBridge, type AlleSubscriber } from "../src/dialects/alle/mod.ts";
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
