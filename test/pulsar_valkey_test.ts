import assert from "node:assert/strict";
import { ADMIN, api, login, openWs, startPulsar } from "./helpers/pulsar.ts";
import { startPrivateRedis } from "./helpers/valkey.ts";

Deno.test("pulsar - PULSAR_STORAGE_BACKEND=valkey puts messages on the Valkey engine, seen by another node", async () => {
  const redis = await startPrivateRedis();
  if (!redis) return;
  try {
    const { hostname, port } = new URL(redis.url);
    const env = {
      PULSAR_STORAGE_BACKEND: "valkey",
      PULSAR_VALKEY_HOST: hostname,
      PULSAR_VALKEY_PORT: port,
    };
    await using a = await startPulsar([], { env });
    await using b = await startPulsar([], { env });
    assert.match(a.log(), /stream engine: valkey/);
    const onB = (await login(b, ADMIN.username, ADMIN.password)).access_token;
    const ws = await openWs(b, `?token=${onB}`);
    ws.send({ type: "subscribe", topics: ["shared"] });
    await ws.next("subscribed");
    const onA = (await login(a, ADMIN.username, ADMIN.password)).access_token;
    const sent = await api(a, "POST", "/api/v1/messages", onA, {
      topic: "shared",
      payload: { from: "a" },
    });
    assert.equal(sent.status, 201);
    const got = await ws.next("message");
    assert.deepEqual([got.topic, got.payload, got.message_id], [
      "shared",
      { from: "a" },
      sent.body.message_id,
    ]);
    ws.close();
  } finally {
    await redis.stop();
  }
});
