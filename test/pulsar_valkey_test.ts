import assert from "node:assert/strict";
import {
  ADMIN,
  api,
  login,
  loginStatus,
  openWs,
  pulsarValkeyEnv,
  startPulsar,
  untilStatus,
} from "./helpers/pulsar.ts";
import { startPrivateRedis } from "./helpers/valkey.ts";

Deno.test("pulsar - PULSAR_STORAGE_BACKEND=valkey puts messages, users and topics in Valkey, seen by another node", async () => {
  const redis = await startPrivateRedis();
  if (!redis) return;
  try {
    const env = pulsarValkeyEnv(redis.url);
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

    // Users and topics are in Valkey too: registered on A, carol logs in on B; the topic made by
    // publishing on A is the admin's there.
    const carol = await api(a, "POST", "/auth/register", onA, {
      username: "carol",
      password: "carol-password",
      permissions: ["read"],
    });
    assert.equal(carol.status, 201);
    await untilStatus(200, () => loginStatus(b, "carol", "carol-password"), "carol on B");
    const topic = await api(b, "GET", "/api/v1/topics/shared", onB);
    assert.equal(topic.body.owner_id, (await api(a, "GET", "/auth/me", onA)).body.user_id);
  } finally {
    await redis.stop();
  }
});
