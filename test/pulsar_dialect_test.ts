import assert from "node:assert/strict";
import {
  ADMIN,
  api,
  JWT_SECRET,
  login,
  openWs,
  type PulsarServer,
  startPulsar,
  userWith,
} from "./helpers/pulsar.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { grantToken, nativeClient } from "./helpers/native.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { within } from "./helpers/deadline.ts";

const adminToken = async (server: PulsarServer) =>
  (await login(server, ADMIN.username, ADMIN.password)).access_token;

const publish = (
  server: PulsarServer,
  token: string,
  topic: string,
  payload: unknown,
  extra = {},
) => api(server, "POST", "/api/v1/messages", token, { topic, payload, ...extra });

Deno.test("pulsar - auth: login, me, refresh rotation, logout, and their refusals", async () => {
  await using server = await startPulsar();
  const form = (body: string) =>
    fetch(`${server.pulsarUrl}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
  const wrong = await form("username=admin&password=nope");
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get("www-authenticate"), "Bearer");
  assert.deepEqual(await wrong.json(), { detail: "Incorrect username or password" });
  const missing = await form("username=admin");
  assert.equal(missing.status, 422);
  assert.deepEqual((await missing.json()).detail[0].loc, ["body", "password"]);

  const tokens = await login(server, ADMIN.username, ADMIN.password);
  const [, claims] = tokens.access_token.split(".");
  const payload = JSON.parse(atob(claims.replace(/-/g, "+").replace(/_/g, "/")));
  assert.deepEqual(Object.keys(payload).sort(), [
    "exp",
    "iat",
    "jti",
    "permissions",
    "sub",
    "username",
  ]);
  assert.equal(payload.exp - payload.iat, 3600);

  const me = await api(server, "GET", "/auth/me", tokens.access_token);
  assert.equal(me.status, 200);
  assert.equal(me.body.username, "admin");
  assert.deepEqual(me.body.permissions, ["admin", "read", "write"]);
  assert.deepEqual(me.body.owned_topics, []);
  assert.equal(me.body.user_id, payload.sub);

  const none = await api(server, "GET", "/auth/me");
  assert.equal(none.status, 401);
  assert.deepEqual(none.body, { detail: "Not authenticated" });
  assert.equal(none.headers.get("www-authenticate"), "Bearer");
  // One signature character changed well before the last (whose low bits base64url ignores).
  const t = tokens.access_token, at = t.length - 10;
  const forgedToken = t.slice(0, at) + (t[at] === "A" ? "B" : "A") + t.slice(at + 1);
  const forged = await api(server, "GET", "/auth/me", forgedToken);
  assert.deepEqual([forged.status, forged.body], [401, { detail: "Invalid or expired token" }]);

  // Refresh rotates: the new pair works, the old refresh token is spent, and showing it again
  // revokes the chain (the new one too).
  const refreshed = await api(server, "POST", "/auth/token/refresh", undefined, {
    refresh_token: tokens.refresh_token,
  });
  assert.equal(refreshed.status, 200);
  assert.notEqual(refreshed.body.refresh_token, tokens.refresh_token);
  assert.equal((await api(server, "GET", "/auth/me", refreshed.body.access_token)).status, 200);
  const replay = await api(server, "POST", "/auth/token/refresh", undefined, {
    refresh_token: tokens.refresh_token,
  });
  assert.deepEqual([replay.status, replay.body], [401, { detail: "invalid refresh token" }]);
  const afterReplay = await api(server, "POST", "/auth/token/refresh", undefined, {
    refresh_token: refreshed.body.refresh_token,
  });
  assert.equal(afterReplay.status, 401, "the chain was revoked by the replay");

  // Logout deny-lists the access token.
  const fresh = await login(server, ADMIN.username, ADMIN.password);
  assert.equal((await api(server, "POST", "/auth/logout", fresh.access_token)).status, 204);
  const after = await api(server, "GET", "/auth/me", fresh.access_token);
  assert.deepEqual([after.status, after.body], [401, { detail: "Token has been revoked" }]);
});

Deno.test("pulsar - users: register, list, stats, update, delete; admins only", async () => {
  await using server = await startPulsar();
  const admin = await adminToken(server);
  const bob = await userWith(server, admin, "bob", ["read"]);

  const notAdmin = await api(server, "POST", "/auth/register", bob.token, {
    username: "eve",
    password: "12345678",
  });
  assert.deepEqual([notAdmin.status, notAdmin.body], [403, {
    detail: "Permission 'admin' required",
  }]);
  const dup = await api(server, "POST", "/auth/register", admin, {
    username: "bob",
    password: "12345678",
  });
  assert.deepEqual([dup.status, dup.body], [400, { detail: "Username 'bob' already exists" }]);
  const bad = await api(server, "POST", "/auth/register", admin, {
    username: "x",
    password: "short",
    permissions: ["root"],
  });
  assert.equal(bad.status, 422);
  assert.deepEqual(
    bad.body.detail.map((p: { loc: string[] }) => p.loc.join(".")),
    ["body.username", "body.password", "body.permissions"],
  );

  const list = await api(server, "GET", "/auth/users", admin);
  assert.deepEqual(list.body.map((u: { username: string }) => u.username).sort(), ["admin", "bob"]);
  assert.equal((await api(server, "GET", "/auth/users", bob.token)).status, 403);
  const stats = await api(server, "GET", "/auth/users/stats", admin);
  assert.deepEqual(stats.body, { total_users: 2, active_users: 2 });

  const patched = await api(server, "PATCH", `/auth/users/${bob.id}`, admin, {
    permissions: ["read", "write"],
    email: "bob@example.com",
  });
  assert.equal(patched.status, 200);
  assert.deepEqual(patched.body.permissions, ["read", "write"]);
  // Permissions are re-read from the store: bob's old token now publishes.
  assert.equal((await publish(server, bob.token, "bobs", { a: 1 })).status, 201);

  const deactivated = await api(server, "PATCH", `/auth/users/${bob.id}`, admin, {
    is_active: false,
  });
  assert.equal(deactivated.body.is_active, false);
  assert.deepEqual((await api(server, "GET", "/auth/me", bob.token)).body, {
    detail: "User is inactive",
  });
  const inactiveLogin = await fetch(`${server.pulsarUrl}/auth/login`, {
    method: "POST",
    body: new URLSearchParams({ username: "bob", password: "bob-password" }),
  });
  assert.deepEqual([inactiveLogin.status, await inactiveLogin.json()], [403, {
    detail: "User account is inactive",
  }]);

  const me = await api(server, "GET", "/auth/me", admin);
  const self = await api(server, "DELETE", `/auth/users/${me.body.user_id}`, admin);
  assert.deepEqual([self.status, self.body], [400, {
    detail: "Cannot delete your own user account",
  }]);
  const unknown = await api(server, "DELETE", "/auth/users/nobody", admin);
  assert.deepEqual([unknown.status, unknown.body], [404, {
    detail: "User with ID 'nobody' not found",
  }]);
  assert.equal((await api(server, "DELETE", `/auth/users/${bob.id}`, admin)).status, 204);
  assert.deepEqual((await api(server, "GET", "/auth/me", bob.token)).body, {
    detail: "User not found",
  });
});

Deno.test("pulsar - topics: create, list, get, update, grants, stats, delete, and who may", async () => {
  await using server = await startPulsar();
  const admin = await adminToken(server);
  const owner = await userWith(server, admin, "owner", ["read", "write"]);
  const other = await userWith(server, admin, "other", ["read"]);

  const created = await api(server, "POST", "/api/v1/topics", owner.token, {
    topic_name: "jobs",
    description: "work",
  });
  assert.equal(created.status, 201);
  assert.deepEqual(
    { ...created.body, topic_id: "", created_at: "" },
    {
      topic_id: "",
      topic_name: "jobs",
      owner_id: owner.id,
      is_public: false,
      created_at: "",
      description: "work",
      allowed_user_ids: [],
    },
  );
  const again = await api(server, "POST", "/api/v1/topics", owner.token, { topic_name: "jobs" });
  assert.deepEqual([again.status, again.body], [400, { detail: "Topic 'jobs' already exists" }]);
  const badName = await api(server, "POST", "/api/v1/topics", owner.token, { topic_name: "a.b" });
  assert.equal(badName.status, 422);
  assert.deepEqual(badName.body.detail[0].loc, ["body", "topic_name"]);
  const readOnly = await api(server, "POST", "/api/v1/topics", other.token, { topic_name: "x" });
  assert.deepEqual([readOnly.status, readOnly.body], [403, {
    detail: "Permission 'write' required",
  }]);

  assert.deepEqual((await api(server, "GET", "/api/v1/topics", other.token)).body, []);
  const hidden = await api(server, "GET", "/api/v1/topics/jobs", other.token);
  assert.deepEqual([hidden.status, hidden.body], [403, {
    detail: "Access denied to topic 'jobs'",
  }]);
  const missing = await api(server, "GET", "/api/v1/topics/nope", other.token);
  assert.deepEqual([missing.status, missing.body], [404, { detail: "Topic 'nope' not found" }]);
  const notOwner = await api(server, "PUT", "/api/v1/topics/jobs", other.token, {
    is_public: true,
  });
  assert.deepEqual([notOwner.status, notOwner.body], [403, {
    detail: "Only the topic owner can update it",
  }]);

  const granted = await api(server, "POST", "/api/v1/topics/jobs/permissions", owner.token, {
    username: "other",
  });
  assert.equal(granted.status, 201);
  assert.deepEqual(
    { ...granted.body, granted_at: "" },
    { topic_name: "jobs", user_id: other.id, username: "other", granted_at: "" },
  );
  const twice = await api(server, "POST", "/api/v1/topics/jobs/permissions", owner.token, {
    user_id: other.id,
  });
  assert.equal(twice.status, 400);
  const nobody = await api(server, "POST", "/api/v1/topics/jobs/permissions", owner.token, {
    username: "zed",
  });
  assert.deepEqual([nobody.status, nobody.body], [404, { detail: "User not found" }]);
  const seen = await api(server, "GET", "/api/v1/topics/jobs", other.token);
  assert.equal(seen.status, 200);
  assert.equal(seen.body.allowed_user_ids, null, "only the owner sees the grant list");
  const perms = await api(server, "GET", "/api/v1/topics/jobs/permissions", owner.token);
  assert.deepEqual(perms.body.map((p: { username: string }) => p.username), ["other"]);
  assert.equal(
    (await api(server, "GET", "/api/v1/topics/jobs/permissions", other.token)).status,
    403,
  );
  assert.equal(
    (await api(server, "DELETE", `/api/v1/topics/jobs/permissions/${other.id}`, owner.token))
      .status,
    204,
  );
  const gone = await api(
    server,
    "DELETE",
    `/api/v1/topics/jobs/permissions/${other.id}`,
    owner.token,
  );
  assert.deepEqual([gone.status, gone.body], [404, {
    detail: "User does not have access to this topic",
  }]);

  const madePublic = await api(server, "PUT", "/api/v1/topics/jobs", owner.token, {
    is_public: true,
  });
  assert.equal(madePublic.body.is_public, true);
  assert.deepEqual(
    (await api(server, "GET", "/api/v1/topics", other.token)).body.map((
      t: { topic_name: string },
    ) => t.topic_name),
    ["jobs"],
    "a public topic is listed for every reader",
  );

  // The original answers 404 here (its route order); Catbus answers the stats.
  const stats = await api(server, "GET", "/api/v1/topics/stats", admin);
  assert.deepEqual(stats.body, { total_topics: 1, public_topics: 1, private_topics: 0 });
  assert.equal((await api(server, "GET", "/api/v1/topics/stats", owner.token)).status, 403);
  assert.deepEqual((await api(server, "GET", "/auth/me", owner.token)).body.owned_topics, ["jobs"]);

  // Delete: its messages go with it; a new topic of the same name starts empty.
  assert.equal((await publish(server, owner.token, "jobs", { old: true })).status, 201);
  assert.equal((await api(server, "DELETE", "/api/v1/topics/jobs", other.token)).status, 403);
  assert.equal((await api(server, "DELETE", "/api/v1/topics/jobs", owner.token)).status, 204);
  assert.equal((await api(server, "GET", "/api/v1/topics/jobs", owner.token)).status, 404);
  assert.equal((await publish(server, owner.token, "jobs", { new: true })).status, 201);
  const history = await api(server, "GET", "/api/v1/topics/jobs/messages?order=asc", owner.token);
  assert.deepEqual(history.body.messages.map((m: { payload: unknown }) => m.payload), [{
    new: true,
  }]);
});

Deno.test("pulsar - publish: 201, bulk 207, validation 422, access 403, Idempotency-Key, 413", async () => {
  await using server = await startPulsar();
  const admin = await adminToken(server);
  const writer = await userWith(server, admin, "writer", ["write"]);
  const reader = await userWith(server, admin, "reader", ["read"]);

  const sent = await publish(server, writer.token, "events", { n: 1 }, { metadata: { k: "v" } });
  assert.equal(sent.status, 201);
  assert.deepEqual(Object.keys(sent.body).sort(), ["message_id", "timestamp", "topic"]);
  const topic = await api(server, "GET", "/api/v1/topics/events", writer.token);
  assert.equal(
    topic.body.owner_id,
    writer.id,
    "publishing to a new topic creates it, owned by the caller",
  );
  assert.equal(topic.body.description, "Auto-created topic by writer");

  const noWrite = await publish(server, reader.token, "events", { n: 2 });
  assert.deepEqual([noWrite.status, noWrite.body], [403, {
    detail: "Permission 'write' required",
  }]);
  const notHers = await publish(
    server,
    (await userWith(server, admin, "writer2", ["write"])).token,
    "events",
    {},
  );
  assert.deepEqual([notHers.status, notHers.body], [403, {
    detail: "Access denied to topic 'events' (requires write permission)",
  }]);
  const notObject = await publish(server, writer.token, "events", [1, 2]);
  assert.equal(notObject.status, 422);
  assert.deepEqual(notObject.body.detail[0].loc, ["body", "payload"]);
  const badTtl = await publish(server, writer.token, "events", {}, { ttl: 0, metadata: { a: 1 } });
  assert.deepEqual(
    badTtl.body.detail.map((p: { loc: string[] }) => p.loc.join(".")),
    ["body.ttl", "body.metadata.a"],
  );
  const notJson = await api(server, "POST", "/api/v1/messages", writer.token, "{nope");
  assert.equal(notJson.status, 422);
  assert.equal(notJson.body.detail[0].type, "json_invalid");

  const bulk = await api(server, "POST", "/api/v1/messages/bulk", writer.token, {
    messages: [{ topic: "events", payload: { n: 3 } }, { topic: "more", payload: { n: 4 } }],
  });
  assert.equal(bulk.status, 207);
  assert.deepEqual(bulk.body.summary, { total: 2, accepted: 2, rejected: 0 });
  assert.deepEqual(bulk.body.results.map((r: { status: string }) => r.status), [
    "accepted",
    "accepted",
  ]);
  const tooMany = await api(server, "POST", "/api/v1/messages/bulk", writer.token, {
    messages: Array.from({ length: 101 }, () => ({ topic: "events", payload: {} })),
  });
  assert.equal(tooMany.status, 422);
  const badItem = await api(server, "POST", "/api/v1/messages/bulk", writer.token, {
    messages: [{ topic: "events", payload: {} }, { topic: "events" }],
  });
  assert.deepEqual(badItem.body.detail[0].loc, ["body", "messages", 1, "payload"]);

  // A retry with the same key answers the first response and stores nothing new.
  const key = { "idempotency-key": crypto.randomUUID() };
  const first = await api(server, "POST", "/api/v1/messages", writer.token, {
    topic: "idem",
    payload: { a: 1 },
  }, key);
  const retry = await api(server, "POST", "/api/v1/messages", writer.token, {
    topic: "idem",
    payload: { a: 1 },
  }, key);
  assert.equal(first.status, 201);
  assert.deepEqual(retry.body, first.body);
  const stored = await api(server, "GET", "/api/v1/topics/idem/messages", writer.token);
  assert.equal(stored.body.total, 1);

  const huge = await api(server, "POST", "/api/v1/messages", writer.token, {
    topic: "events",
    payload: { big: "x".repeat(1024 * 1024) },
  });
  assert.deepEqual([huge.status, huge.body], [413, {
    error: "PAYLOAD_TOO_LARGE",
    message: "request body exceeds configured limit",
  }]);

  const page = await api(
    server,
    "GET",
    "/api/v1/topics/events/messages?order=asc&limit=1",
    writer.token,
  );
  assert.deepEqual(page.body.messages[0].metadata, { k: "v" });
  assert.equal(page.body.next_cursor, page.body.messages[0].message_id);
  const next = await api(
    server,
    "GET",
    `/api/v1/topics/events/messages?order=asc&cursor=${page.body.next_cursor}`,
    writer.token,
  );
  assert.deepEqual(next.body.messages.map((m: { payload: unknown }) => m.payload), [{ n: 3 }]);
  const desc = await api(server, "GET", "/api/v1/topics/events/messages", writer.token);
  assert.deepEqual(desc.body.messages.map((m: { payload: unknown }) => m.payload), [{ n: 3 }, {
    n: 1,
  }]);
  const badOrder = await api(
    server,
    "GET",
    "/api/v1/topics/events/messages?order=up",
    writer.token,
  );
  assert.deepEqual([badOrder.status, badOrder.body], [400, {
    detail: "Order must be 'asc' or 'desc'",
  }]);
});

Deno.test("pulsar - a second user is denied, granted, then revoked while subscribed", async () => {
  await using server = await startPulsar();
  const admin = await adminToken(server);
  const owner = await userWith(server, admin, "owner", ["read", "write"]);
  const bob = await userWith(server, admin, "bob", ["read"]);
  await api(server, "POST", "/api/v1/topics", owner.token, { topic_name: "secret" });

  const denied = await openWs(server, `?token=${bob.token}`);
  denied.send({ type: "subscribe", topics: ["secret"] });
  const refusal = await denied.next("error");
  assert.deepEqual(refusal, {
    type: "error",
    code: "SUBSCRIPTION_ERROR",
    message: "Access denied to one or more requested topics",
  });
  assert.equal((await denied.closed).code, 1008);
  const poll = await api(server, "POST", "/messages/poll", bob.token, {
    topics: ["secret"],
    timeout: 1,
  });
  assert.deepEqual([poll.status, poll.body], [403, {
    detail: "Access denied to one or more requested topics",
  }]);

  await api(server, "POST", "/api/v1/topics/secret/permissions", owner.token, { username: "bob" });
  // 0.2's handshake: the token in the subprotocols; the server picks `bearer`.
  const live = await openWs(server, "", ["bearer", `bearer.${bob.token}`]);
  assert.equal(live.ws.protocol, "bearer");
  live.send({ type: "subscribe", topics: ["secret"], client_id: "bob-1" });
  const subscribed = await live.next("subscribed");
  assert.deepEqual(subscribed.topics, ["secret"]);
  assert.match(subscribed.session_id, /^sess_[0-9a-f]{12}$/);
  live.send({ type: "ping" });
  assert.equal((await live.next("pong")).type, "pong");
  const sent = await publish(server, owner.token, "secret", { n: 1 }, { metadata: { m: "1" } });
  const pushed = await live.next("message");
  assert.deepEqual(pushed, {
    type: "message",
    message_id: sent.body.message_id,
    topic: "secret",
    payload: { n: 1 },
    timestamp: sent.body.timestamp,
    metadata: { m: "1" },
  });

  // Revoked while subscribed: the subscription ends, nothing more arrives, the socket stays.
  await api(server, "DELETE", `/api/v1/topics/secret/permissions/${bob.id}`, owner.token);
  const revoked = await live.next("error");
  assert.equal(revoked.code, "ACCESS_REVOKED");
  assert.deepEqual(revoked.details, { topics: ["secret"] });
  await publish(server, owner.token, "secret", { n: 2 });
  live.send({ type: "ping" });
  const afterRevoke = await live.frames.next("pong after revoke");
  assert.equal(
    afterRevoke.type,
    "pong",
    `no message after revoke, got ${JSON.stringify(afterRevoke)}`,
  );

  // Losing the read permission closes the connection (1008).
  await api(server, "POST", "/api/v1/topics/secret/permissions", owner.token, { username: "bob" });
  await api(server, "PATCH", `/auth/users/${bob.id}`, admin, { permissions: [] });
  assert.equal((await live.next("error")).code, "FORBIDDEN");
  assert.equal((await live.closed).code, 1008);
});

Deno.test("pulsar - WebSocket: offset replays from the log, unknown types and bad tokens refused, logout closes", async () => {
  await using server = await startPulsar();
  const admin = await adminToken(server);
  const ids = [];
  for (let n = 1; n <= 3; n++) {
    ids.push((await publish(server, admin, "feed", { n })).body.message_id);
  }

  const earliest = await openWs(server, `?token=${admin}`);
  earliest.send({ type: "subscribe", topics: ["feed"], offset: "earliest" });
  await earliest.next("subscribed");
  for (let n = 1; n <= 3; n++) assert.deepEqual((await earliest.next("message")).payload, { n });
  earliest.send({ type: "dance" });
  assert.deepEqual(await earliest.next("error"), {
    type: "error",
    code: "UNKNOWN_MESSAGE_TYPE",
    message: "Unknown message type: dance",
  });
  earliest.close();

  const after = await openWs(server, `?token=${admin}`);
  after.send({ type: "subscribe", topics: ["feed"], offset: ids[0] });
  await after.next("subscribed");
  assert.deepEqual((await after.next("message")).payload, { n: 2 });
  assert.deepEqual((await after.next("message")).payload, { n: 3 });
  after.close();

  // An acked client_id resumes after its last ack.
  const acking = await openWs(server, `?token=${admin}`);
  acking.send({ type: "subscribe", topics: ["feed"], client_id: "c1", offset: "earliest" });
  await acking.next("subscribed");
  const first = await acking.next("message");
  acking.send({ type: "ack", message_id: first.message_id });
  acking.send({ type: "ping" });
  await acking.next("pong");
  acking.close();
  await acking.closed;
  const resumed = await openWs(server, `?token=${admin}`);
  resumed.send({ type: "subscribe", topics: ["feed"], client_id: "c1" });
  await resumed.next("subscribed");
  assert.deepEqual((await resumed.next("message")).payload, { n: 2 });
  resumed.close();

  // Logging out closes the sockets opened with that token.
  const fresh = await adminToken(server);
  const loggedIn = await openWs(server, `?token=${fresh}`);
  loggedIn.send({ type: "subscribe", topics: ["feed"] });
  await loggedIn.next("subscribed");
  assert.equal((await api(server, "POST", "/auth/logout", fresh)).status, 204);
  assert.match((await loggedIn.next("error")).message, /logged out/);
  assert.equal((await loggedIn.closed).code, 1008);

  const bad = await openWs(server, "?token=nonsense");
  const closed = await bad.closed;
  assert.deepEqual([closed.code, closed.reason], [1008, "Invalid or expired token"]);
  const none = await openWs(server);
  assert.equal((await none.closed).code, 1008);
});

Deno.test("pulsar - long-poll: catch-up after since, wait for live, has_more, no seam under a steady publisher", async () => {
  await using server = await startPulsar();
  const admin = await adminToken(server);
  const bad = await api(server, "POST", "/messages/poll", admin, { topics: [], timeout: 0 });
  assert.deepEqual(
    bad.body.detail.map((p: { loc: string[] }) => p.loc.join(".")),
    ["body.topics", "body.timeout"],
  );
  const empty = await api(server, "POST", "/messages/poll", admin, { topics: ["t"], timeout: 1 });
  assert.deepEqual(empty.body, { messages: [], has_more: false });

  const bulk = {
    messages: Array.from({ length: 100 }, (_, n) => ({ topic: "t", payload: { n } })),
  };
  await api(server, "POST", "/api/v1/messages/bulk", admin, bulk);
  await api(server, "POST", "/api/v1/messages/bulk", admin, bulk);
  const first =
    (await api(server, "GET", "/api/v1/topics/t/messages?order=asc&limit=1", admin)).body
      .messages[0].message_id;
  const page = await api(server, "POST", "/messages/poll", admin, {
    topics: ["t"],
    since: { t: first },
  });
  assert.equal(page.body.messages.length, 100);
  assert.equal(page.body.has_more, true);
  assert.deepEqual(Object.keys(page.body.messages[0]), [
    "message_id",
    "topic",
    "payload",
    "timestamp",
    "metadata",
  ]);

  // A steady publisher while a client polls with since: every message once, in order.
  let since = page.body.messages.at(-1).message_id;
  const total = 60;
  const publisher = (async () => {
    for (let n = 0; n < total; n++) await publish(server, admin, "seam", { n });
  })();
  const got: number[] = [];
  let seamSince: string | undefined;
  await within(
    (async () => {
      while (got.length < total) {
        const r = await api(server, "POST", "/messages/poll", admin, {
          topics: ["seam"],
          ...(seamSince ? { since: { seam: seamSince } } : {}),
          timeout: 10,
        });
        for (const m of r.body.messages) {
          got.push(m.payload.n);
          seamSince = m.message_id;
        }
        if (!seamSince && !r.body.messages.length) continue;
      }
    })(),
    60_000,
    "every message of the steady publisher",
  );
  await publisher;
  // The first poll had no since and may start after the first few messages.
  const start = got[0];
  assert.deepEqual(got, Array.from({ length: total - start }, (_, i) => start + i));
  void since;
  since = "";

  const stats = await api(server, "GET", "/messages/poll/stats", admin);
  assert.deepEqual(stats.body, {
    active_waiters: 0,
    subscribed_topics: 0,
    topic_subscriber_counts: {},
  });
});

Deno.test("pulsar - a long-poll whose client goes away is ended at once, not at its timeout", async () => {
  await using server = await startPulsar();
  const admin = await adminToken(server);
  const stats = async () =>
    (await api(server, "GET", "/messages/poll/stats", admin)).body.active_waiters;
  const waiters = async (n: number, what: string) => {
    await within(
      (async () => {
        while (await stats() !== n) await new Promise((r) => setTimeout(r, 20));
      })(),
      10_000,
      what,
    );
  };
  const body = JSON.stringify({ topics: ["gone"], timeout: 60 });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: Number(new URL(server.pulsarUrl).port),
  });
  await conn.write(new TextEncoder().encode(
    `POST /messages/poll HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${admin}\r\n` +
      `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
  ));
  await waiters(1, "the poll to wait");
  conn.close();
  // Before, the poll held its subscription and its place in the per-user cap for 60 s.
  await waiters(0, "the poll to end when its client went away");
});

Deno.test("pulsar - ttl expires messages", async () => {
  await using server = await startPulsar();
  const admin = await adminToken(server);
  await publish(server, admin, "brief", { n: 1 }, { ttl: 1 });
  await publish(server, admin, "brief", { n: 2 });
  await within(
    (async () => {
      for (;;) {
        const h = await api(server, "GET", "/api/v1/topics/brief/messages?order=asc", admin);
        if (h.body.total === 1) return assert.deepEqual(h.body.messages[0].payload, { n: 2 });
        await new Promise((r) => setTimeout(r, 100));
      }
    })(),
    15_000,
    "the ttl=1 message to expire",
  );
});

Deno.test("pulsar - storage.persistent_tier_retention caps how long a message is delivered", async () => {
  await using server = await startPulsar(["--pulsar-persistent-tier-retention", "1"]);
  const admin = await adminToken(server);
  await publish(server, admin, "retained", { n: 1 }, { ttl: 3600 });
  await within(
    (async () => {
      for (;;) {
        const h = await api(server, "GET", "/api/v1/topics/retained/messages", admin);
        if (h.body.total === 0) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    })(),
    15_000,
    "the message to pass the 1 s retention (its ttl of an hour notwithstanding)",
  );
});

Deno.test("pulsar - restart keeps users, topics, grants, messages and Idempotency-Keys", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-pulsar-" });
  let first: Awaited<ReturnType<typeof api>>;
  try {
    {
      await using server = await startPulsar([], { data });
      const admin = await adminToken(server);
      const bob = await userWith(server, admin, "bob", ["read"]);
      await api(server, "POST", "/api/v1/topics", admin, { topic_name: "kept" });
      await api(server, "POST", "/api/v1/topics/kept/permissions", admin, { user_id: bob.id });
      await publish(server, admin, "kept", { n: 1 });
      first = await api(server, "POST", "/api/v1/messages", admin, {
        topic: "kept",
        payload: { n: 2 },
      }, { "idempotency-key": "retry-me" });
      assert.equal(first.status, 201);
    }
    await using server = await startPulsar([], { data });
    const admin = await adminToken(server);
    const retried = await api(server, "POST", "/api/v1/messages", admin, {
      topic: "kept",
      payload: { n: 2 },
    }, { "idempotency-key": "retry-me" });
    assert.deepEqual([retried.status, retried.body], [201, first.body], "the first answer");
    const bob = await login(server, "bob", "bob-password");
    const h = await api(server, "GET", "/api/v1/topics/kept/messages", bob.access_token);
    assert.equal(h.status, 200);
    assert.deepEqual(
      h.body.messages.map((m: { payload: unknown }) => m.payload),
      [{ n: 2 }, { n: 1 }],
      "and no second message (newest first)",
    );
    const mode = (await Deno.stat(`${data}/pulsar/journal.jsonl`)).mode! & 0o777;
    assert.equal(mode, 0o600, "the store holds password hashes: owner only");
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("pulsar - a short JWT secret is refused at start; password guessing is throttled; health, ready, metrics", async () => {
  await assert.rejects(
    startCatbusd(["--pulsar-bind", "127.0.0.1:0"], { env: { PULSAR_JWT_SECRET_KEY: "short" } }),
    /PULSAR_JWT_SECRET_KEY must be at least 32 characters \(got 5\)/,
  );
  await using server = await startPulsar(["--pulsar-login-failures", "2"]);
  const token = await adminToken(server);
  assert.equal(JWT_SECRET.length >= 32, true);
  const guess = (password: string) =>
    fetch(`${server.pulsarUrl}/auth/login`, {
      method: "POST",
      body: new URLSearchParams({ username: ADMIN.username, password }),
    });
  assert.equal((await guess("guess-1")).status, 401);
  assert.equal((await guess("guess-2")).status, 401);
  const throttled = await guess(ADMIN.password);
  assert.equal(throttled.status, 429, "even the right password, until the minute is over");
  assert.match((await throttled.json()).detail, /Too many failed logins/);
  const health = await api(server, "GET", "/health");
  assert.equal(health.body.status, "healthy");
  const ready = await api(server, "GET", "/ready");
  assert.deepEqual([ready.status, ready.body], [200, { ready: true, checks: { storage: "ok" } }]);
  await publish(server, token, "counted", { n: 1 });
  const metrics = await (await fetch(`${server.pulsarUrl}/metrics`)).text();
  assert.match(metrics, /pulsar_messages_received_total 1\n/);
  assert.match(metrics, /pulsar_users 1\n/);
  assert.match(metrics, /pulsar_topics 1\n/);
  assert.match(
    metrics,
    /pulsar_http_requests_total\{method="GET",route="\/ready",status="200"\} 1/,
  );
  assert.match(metrics, /catbus_build_info/, "the server's series are there too");
  const main = await (await fetch(`${server.httpUrl}/metrics`)).text();
  assert.match(main, /pulsar_messages_received_total 1\n/, "and the door's on the main port");
  const unknown = await api(server, "GET", "/nope");
  assert.deepEqual([unknown.status, unknown.body], [404, { detail: "Not Found" }]);
  const wrongMethod = await api(server, "DELETE", "/health");
  assert.deepEqual([wrongMethod.status, wrongMethod.body], [405, { detail: "Method Not Allowed" }]);
});

Deno.test("pulsar - catbus pulsar user add creates the first admin offline", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-pulsar-" });
  try {
    const cli = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "src/cli/main.ts",
        "pulsar",
        "user",
        "add",
        "root",
        "--permissions",
        "admin,read,write",
        "--data",
        data,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = cli.stdin.getWriter();
    await w.write(new TextEncoder().encode("root-password\n"));
    await w.close();
    const out = await cli.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(new TextDecoder().decode(out.stdout), /created pulsar user root/);
    await using server = await startPulsar([], { data });
    const root = await login(server, "root", "root-password");
    assert.deepEqual((await api(server, "GET", "/auth/me", root.access_token)).body.permissions, [
      "admin",
      "read",
      "write",
    ]);
    // While catbusd holds the data directory, the command refuses (use POST /auth/register).
    const busy = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "src/cli/main.ts", "pulsar", "user", "add", "x1", "--data", data],
      stdin: "null",
    }).output();
    assert.equal(busy.code, 1);
    assert.match(new TextDecoder().decode(busy.stderr), /in use by/);
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("pulsar - topics are pulsar.<topic> channels: native clients read what Pulsar publishes and back", async () => {
  await using server = await startPulsar();
  const admin = await adminToken(server);
  const native = await nativeClient(
    server,
    await grantToken(server, "-p", "read", "-p", "write", "pulsar.>"),
  );
  const got = new AsyncQueue<
    { channel: string; payload: unknown; meta: { headers?: Record<string, string> } }
  >();
  await native.subscribe(
    "pulsar.>",
    (channel, payload, meta) => got.push({ channel, payload, meta }),
  );
  await publish(server, admin, "shared", { from: "pulsar" }, { metadata: { k: "v" } });
  const seen = await got.next("the Pulsar message on the native door");
  assert.deepEqual([seen.channel, seen.payload], ["pulsar.shared", { from: "pulsar" }]);
  assert.equal(seen.meta.headers?.["pulsar-metadata"], '{"k":"v"}');

  const ws = await openWs(server, `?token=${admin}`);
  ws.send({ type: "subscribe", topics: ["shared"] });
  await ws.next("subscribed");
  await native.publish("pulsar.shared", { from: "native" });
  const pushed = await ws.next("message");
  assert.deepEqual([pushed.topic, pushed.payload], ["shared", { from: "native" }]);
  ws.close();
  await native.disconnect();
});

Deno.test("pulsar - a WebSocket is closed when its token expires", async () => {
  await using server = await startPulsar(["--pulsar-token-lifetime", "2"]);
  const admin = await adminToken(server);
  const ws = await openWs(server, `?token=${admin}`);
  ws.send({ type: "subscribe", topics: ["t"] });
  await ws.next("subscribed");
  const error = await ws.next("error");
  assert.equal(error.code, "UNAUTHORIZED");
  assert.match(error.message, /token expired/);
  assert.equal((await ws.closed).code, 1008);
});

Deno.test("pulsar - a WebSocket that never subscribes is closed after --hello-timeout", async () => {
  await using server = await startPulsar(["--hello-timeout", "1s"]);
  const ws = await openWs(server, `?token=${await adminToken(server)}`);
  assert.equal((await ws.next("error")).code, "SUBSCRIBE_TIMEOUT");
  assert.equal((await ws.closed).code, 1011);
});

Deno.test("pulsar - rate limits: messages per user and requests per IP answer 429 with Retry-After", async () => {
  await using server = await startPulsar([
    "--pulsar-rate-limit-per-client",
    "3",
    "--pulsar-rate-limit-per-ip",
    "12",
  ]);
  const token = await adminToken(server);
  assert.equal((await publish(server, token, "limited", { n: 1 })).status, 201);
  const bulk = (n: number) =>
    api(server, "POST", "/api/v1/messages/bulk", token, {
      messages: Array.from({ length: n }, (_, i) => ({ topic: "limited", payload: { i } })),
    });
  assert.equal((await bulk(2)).status, 207, "a bulk spends one unit per message");
  const over = await api(server, "POST", "/api/v1/messages", token, {
    topic: "limited",
    payload: { n: 4 },
  });
  assert.equal(over.status, 429);
  assert.match(over.body.detail, /Rate limit exceeded: at most 3 messages per minute/);
  assert.ok(Number(over.headers.get("retry-after")) >= 1);
  // 4 requests so far from this IP; the per-IP budget of 12 runs out within 9 more.
  let status = 0;
  for (let i = 0; i < 9 && status !== 429; i++) {
    status = (await api(server, "GET", "/auth/me", token)).status;
  }
  assert.equal(status, 429);
  assert.equal((await api(server, "GET", "/health")).status, 200, "probes are not limited");
  const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
  assert.match(metrics, /pulsar_rate_limited_total\{limit="user"\} 1\n/);
  assert.match(metrics, /pulsar_rate_limited_total\{limit="ip"\} 1\n/);
});
