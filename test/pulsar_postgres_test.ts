/**
 * Two catbusd with the Pulsar door on one PostgreSQL database (after `catbus init`): users,
 * topics and grants made on one node hold on the other, a username registered on both at once is
 * taken once, and a revoke on one ends the user's live subscription on the other.
 */
import assert from "node:assert/strict";
import { startCatbusd } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";
import { testDatabase } from "./helpers/postgres.ts";
import {
  ADMIN,
  api,
  login,
  loginStatus,
  openWs,
  type PulsarServer,
  startPulsar,
  untilStatus,
  userWith,
} from "./helpers/pulsar.ts";

Deno.test("pulsar on postgres - a user registered on A logs in on B; a grant on A opens a topic on B, a revoke on A closes it", async () => {
  await using db = await testDatabase("pulsar on postgres");
  if (!db) return;
  {
    await using init = await startCatbusd();
    const out = await init.cli(["init"], { CATBUS_DATABASE_URL: db.url });
    assert.equal(out.code, 0, out.stderr);
  }
  const args = ["--database-url", db.url];
  await using a = await startPulsar(args);
  await using b = await startPulsar(args);
  const admin = (await login(a, ADMIN.username, ADMIN.password)).access_token;
  const owner = await userWith(a, admin, "owner", ["read", "write"]);
  const bob = await userWith(a, admin, "bob", ["read"]);
  const bobOnB = await untilStatus(
    200,
    () => loginStatus(b, "bob", "bob-password"),
    "bob logging in on B once registered on A",
  );
  const onB = bobOnB.body.access_token;
  assert.equal((await api(b, "GET", "/auth/me", onB)).body.username, "bob");

  // One username registered on both nodes at once: the database lets one have it.
  const twins = await Promise.all([a, b].map((node) =>
    api(node, "POST", "/auth/register", admin, {
      username: "twin",
      password: "twin-password",
      permissions: ["read"],
    })
  ));
  assert.deepEqual(twins.map((r) => r.status).sort(), [201, 400], JSON.stringify(twins));
  const twinsOn = async (node: PulsarServer) =>
    ((await api(node, "GET", "/auth/users", admin)).body as { username: string }[])
      .filter((u) => u.username === "twin").length;
  const [winner, other] = twins[0].status === 201 ? [a, b] : [b, a];
  assert.equal(await twinsOn(winner), 1);
  // The other node learns of the user by its notification, an instant later: one there too.
  await within(
    (async () => {
      while (await twinsOn(other) !== 1) await new Promise((r) => setTimeout(r, 20));
    })(),
    10_000,
    "the other node to list the one twin",
  );

  assert.equal(
    (await api(a, "POST", "/api/v1/topics", owner.token, { topic_name: "secret" })).status,
    201,
  );
  await untilStatus(
    403,
    () => api(b, "GET", "/api/v1/topics/secret/messages", onB),
    "bob denied the topic on B once it exists there",
  );

  await api(a, "POST", "/api/v1/topics/secret/permissions", owner.token, { username: "bob" });
  await untilStatus(
    200,
    () => api(b, "GET", "/api/v1/topics/secret/messages", onB),
    "bob reading the topic on B once granted on A",
  );

  const live = await openWs(b, `?token=${onB}`);
  live.send({ type: "subscribe", topics: ["secret"] });
  await live.next("subscribed");
  const sent = await api(b, "POST", "/api/v1/messages", owner.token, {
    topic: "secret",
    payload: { n: 1 },
  });
  assert.equal(sent.status, 201, JSON.stringify(sent.body));
  assert.equal((await live.next("message")).message_id, sent.body.message_id);

  await api(a, "DELETE", `/api/v1/topics/secret/permissions/${bob.id}`, owner.token);
  const revoked = await live.next("error");
  assert.equal(revoked.code, "ACCESS_REVOKED");
  live.close();
  await live.closed;
});

Deno.test("pulsar on postgres - the door refuses a database without its tables, naming catbus init", async () => {
  await using db = await testDatabase("pulsar on postgres - schema check");
  if (!db) return;
  {
    await using init = await startCatbusd();
    const out = await init.cli(["init"], { CATBUS_DATABASE_URL: db.url });
    assert.equal(out.code, 0, out.stderr);
  }
  await db.sql`drop table catbus_pulsar_users, catbus_pulsar_grants, catbus_pulsar_topics,
                          catbus_pulsar_refresh, catbus_pulsar_denied, catbus_pulsar_schema`;
  await assert.rejects(
    startPulsar(["--database-url", db.url]),
    /pulsar schema is at version 0, this catbusd needs 2: run `catbus init/,
  );
});
