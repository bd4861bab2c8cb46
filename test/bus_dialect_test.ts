import assert from "node:assert/strict";
import { grantToken, nativeClient } from "./helpers/native.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { openSse } from "./helpers/sse.ts";
import { expectStatus, post } from "./helpers/bus.ts";

Deno.test("bus - publish answers 202 with id, time and index; subscribe streams the stored event", async () => {
  await using server = await startCatbusd();
  const r = await expectStatus(
    post(server, { subject: "app.users.created", trace_id: "req-1", payload: { user: "alice" } }),
    202,
  );
  const id = r.headers.get("x-bus-event-id")!;
  assert.match(id, /^e_[0-9A-Z]{20}$/);
  assert.match(
    r.headers.get("x-bus-event-created-at")!,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/,
  );
  assert.equal(r.headers.get("x-bus-event-index"), "1");

  const sse = await openSse(`${server.busUrl}/?subject=app.users.*&start=oldest`);
  assert.equal(sse.response.headers.get("content-type"), "text/event-stream");
  assert.match(sse.response.headers.get("x-bus-consumer-id")!, /^c_[a-z0-9]{20}$/);
  const e = await sse.next();
  assert.equal(e.event, "msg");
  assert.equal(e.id, id);
  const event = JSON.parse(e.data);
  assert.deepEqual(
    { id: event.id, subject: event.subject, trace_id: event.trace_id, payload: event.payload },
    { id, subject: "app.users.created", trace_id: "req-1", payload: { user: "alice" } },
  );
  await sse.close();
});

Deno.test("bus - bad input gets a status and a one-line reason", async () => {
  await using server = await startCatbusd(["--namespaces", "app"]);
  const url = server.busUrl;
  await expectStatus(post(server, "{not json"), 400, /not JSON/);
  await expectStatus(post(server, { payload: 1 }), 400, /"subject" is required/);
  await expectStatus(post(server, { subject: "app.*", payload: 1 }), 400, /wildcard/);
  await expectStatus(post(server, { subject: "other.x", payload: 1 }), 400, /not declared/);
  await expectStatus(post(server, { subject: "app.x", payload: "x".repeat(2 * 1024 * 1024) }), 413);
  await expectStatus(fetch(`${url}/`), 400, /subject is required/);
  await expectStatus(fetch(`${url}/?subject=*.x`), 400, /namespace/);
  await expectStatus(fetch(`${url}/?subject=app.x&start=yesterday`), 400, /not an event id/);
  await expectStatus(fetch(`${url}/?consumer_id=c_x`, { method: "PUT" }), 400, /both required/);
  await expectStatus(fetch(`${url}/?consumer_id=x_1&event_id=e_1`, { method: "PUT" }), 400);
  await expectStatus(
    fetch(`${url}/?consumer_id=c_${"a".repeat(20)}&event_id=e_${"A".repeat(20)}`, {
      method: "PUT",
    }),
    404,
  );
  await expectStatus(fetch(`${url}/`, { method: "DELETE" }), 405);
  // Hyphens are fine in subscribe subjects too (the original rejected them there).
  const sse = await openSse(`${url}/?subject=app.my-topic`);
  assert.equal(sse.response.status, 200);
  await sse.close();
});

Deno.test("bus - a repeated key on a subject is 409; a batch is all or nothing", async () => {
  await using server = await startCatbusd();
  await expectStatus(post(server, { subject: "orders.paid", key: "k1", payload: 1 }), 202);
  await expectStatus(
    post(server, { subject: "orders.paid", key: "k1", payload: 1 }),
    409,
    /key was processed before/,
  );
  await expectStatus(post(server, { subject: "orders.refunded", key: "k1", payload: 1 }), 202);

  await expectStatus(
    post(server, [{ subject: "orders.a", payload: 1 }, { subject: "orders.*", payload: 2 }]),
    400,
    /event 1/,
  );
  await expectStatus(
    post(server, [{ subject: "orders.a", payload: 1 }, {
      subject: "orders.paid",
      key: "k1",
      payload: 2,
    }]),
    409,
  );
  await expectStatus(
    post(server, [{ subject: "orders.a", payload: 1 }, { subject: "users.a", payload: 2 }]),
    400,
    /one namespace/,
  );
  await expectStatus(
    post(server, [{ subject: "orders.b", payload: "x" }, { subject: "orders.b", payload: "y" }]),
    202,
  );
  const c = await nativeClient(server);
  const seen: unknown[] = [];
  const all = new AsyncQueue<void>();
  await c.subscribe("orders.>", (_ch, payload) => {
    seen.push(payload);
    all.push();
  }, { from: "first" });
  for (let i = 0; i < 4; i++) await all.next();
  assert.deepEqual(seen, [1, 1, "x", "y"], "nothing of the rejected batches was stored");
  await c.disconnect();
});

Deno.test("bus - Last-Event-ID resumes after that event, found by index", async () => {
  await using server = await startCatbusd();
  const ids: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const r = await expectStatus(post(server, { subject: "feed.x", payload: i }), 202);
    ids.push(r.headers.get("x-bus-event-id")!);
  }
  const sse = await openSse(`${server.busUrl}/?subject=feed.x&start=oldest`, {
    "last-event-id": ids[0],
  });
  assert.deepEqual([(await sse.next()).id, (await sse.next()).id], [ids[1], ids[2]]);
  await sse.close();
  const fromStart = await openSse(`${server.busUrl}/?subject=feed.x&start=${ids[1]}`);
  assert.equal((await fromStart.next()).id, ids[2]);
  await fromStart.close();
});

Deno.test("bus - manual ack: redelivery with attempts, ack once, then dead letter after redelivery_count", async () => {
  await using server = await startCatbusd();
  await post(server, { subject: "jobs.a", payload: "first" });
  await post(server, { subject: "jobs.a", payload: "second" });
  const sse = await openSse(
    `${server.busUrl}/?subject=jobs.a&start=oldest&ack=manual&redelivery=100ms&redelivery_count=2`,
  );
  const consumer = sse.response.headers.get("x-bus-consumer-id")!;
  const first = await sse.next();
  assert.equal(JSON.parse(first.data).attempt, 1);
  // Not acked: the same event again, attempt 2 (one in flight: "second" waits).
  const again = await sse.next();
  assert.equal(again.id, first.id);
  assert.equal(JSON.parse(again.data).attempt, 2);
  const ack = (eventId: string) =>
    fetch(`${server.busUrl}/?consumer_id=${consumer}&event_id=${eventId}`, { method: "PUT" });
  await expectStatus(ack(first.id!), 202);
  await expectStatus(ack(first.id!), 409, /not awaiting an ack/);
  const second = await sse.next();
  assert.equal(JSON.parse(second.data).payload, "second");

  const c = await nativeClient(server);
  const letters = new AsyncQueue<Record<string, string> | undefined>();
  await c.subscribe(`$sys.dlq.${consumer}`, (_ch, _p, meta) => letters.push(meta.headers));
  assert.equal(JSON.parse((await sse.next()).data).attempt, 2);
  const letter = await letters.next();
  assert.equal(letter?.["catbus-dlq-reason"], "max_deliver");
  await expectStatus(ack(second.id!), 409);
  await sse.close();
  await c.disconnect();
});

Deno.test("bus - manual ack with max_in_flight delivers several before the first ack", async () => {
  await using server = await startCatbusd();
  for (let i = 0; i < 3; i++) await post(server, { subject: "jobs.b", payload: i });
  const sse = await openSse(
    `${server.busUrl}/?subject=jobs.b&start=oldest&ack=manual&redelivery=60s&max_in_flight=3`,
  );
  const got = [await sse.next(), await sse.next(), await sse.next()];
  assert.deepEqual(got.map((e) => JSON.parse(e.data).payload), [0, 1, 2]);
  await sse.close();
});

Deno.test("bus - events cross doors both ways, and request/reply works across them", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  await c.publish("chat.init", null);
  const fromBus = new AsyncQueue<{ payload: unknown; headers?: Record<string, string> }>();
  await c.subscribe(
    "chat.room1",
    (_ch, payload, meta) => fromBus.push({ payload, headers: meta.headers }),
  );
  await expectStatus(
    post(server, { subject: "chat.room1", trace_id: "t-9", payload: { text: "hi" } }),
    202,
  );
  const got = await fromBus.next();
  assert.deepEqual(got.payload, { text: "hi" });
  assert.equal(got.headers?.trace_id, "t-9");

  const sse = await openSse(`${server.busUrl}/?subject=chat.room2`);
  await c.publish("chat.room2", { text: "from native" });
  assert.deepEqual(JSON.parse((await sse.next()).data).payload, { text: "from native" });
  await sse.close();

  // A Bus requester: listens on its _bus_ inbox, posts with response_subject; a native service answers.
  const replies: Promise<unknown>[] = [];
  await c.subscribe("math.add", (_ch, payload, meta) => {
    const { a, b } = payload as { a: number; b: number };
    replies.push(c.respond(meta, { result: a + b }));
  });
  await c.publish("math.init", null);
  const inbox = await openSse(`${server.busUrl}/?subject=_bus_.r1`);
  await expectStatus(
    post(server, { subject: "math.add", response_subject: "_bus_.r1", payload: { a: 10, b: 20 } }),
    202,
  );
  assert.deepEqual(JSON.parse((await inbox.next()).data).payload, { result: 30 });
  // The reply can reach the inbox before its publisher has its ack: wait for it before leaving.
  await Promise.all(replies);
  await inbox.close();
  await c.disconnect();
});

Deno.test("bus - confirm=N answers after N consumer acks", async () => {
  await using server = await startCatbusd();
  await post(server, { subject: "pay.init", payload: null });
  const sse = await openSse(`${server.busUrl}/?subject=pay.done&ack=manual`);
  const consumer = sse.response.headers.get("x-bus-consumer-id")!;
  const publishing = post(server, { subject: "pay.done", payload: 1 }, "?confirm=1");
  const e = await sse.next();
  await expectStatus(
    fetch(`${server.busUrl}/?consumer_id=${consumer}&event_id=${e.id}`, { method: "PUT" }),
    202,
  );
  await expectStatus(publishing, 202);
  await expectStatus(
    post(server, { subject: "pay.other", payload: 1 }, "?confirm=1&confirm_timeout=50ms"),
    504,
    /0 of 1/,
  );
  await sse.close();
});

Deno.test("bus - with --bus-auth token, requests need a token and grants apply", async () => {
  await using server = await startCatbusd(["--bus-auth", "token"]);
  await expectStatus(post(server, { subject: "app.x", payload: 1 }), 401, /needs a token/);
  const token = (await server.cli(["grant", "-p", "all", "app.>"])).stdout.split("\n")[0];
  await expectStatus(
    fetch(`${server.busUrl}/`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ subject: "app.x", payload: 1 }),
    }),
    202,
  );
  await expectStatus(fetch(`${server.busUrl}/?subject=other.x&token=${token}`), 403);
});

Deno.test("bus - a stream opens a new namespace by the publish rule: create brings it, else 404", async () => {
  await using server = await startCatbusd(["--bus-auth", "token"]);
  const reader = await grantToken(server, "-p", "read", "fresh.>");
  await expectStatus(
    fetch(`${server.busUrl}/?subject=fresh.x&token=${reader}`),
    404,
    /namespace "fresh" does not exist; a token with create/,
  );
  const creator = await grantToken(server, "-p", "read", "-p", "create", "fresh.>");
  const stream = await openSse(`${server.busUrl}/?subject=fresh.x&token=${creator}`);
  assert.equal(stream.response.status, 200);
  await stream.close();
});

Deno.test("bus - durable=NAME keeps a manual-ack consumer across streams and restarts", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-bus-durable-" });
  let server = await startCatbusd([], { data });
  for (const n of [1, 2]) await post(server, { subject: "mail.out", payload: n });
  const open = (s: TestServer) =>
    openSse(`${s.busUrl}/?subject=mail.out&start=oldest&ack=manual&durable=mailer&redelivery=60s`);
  const first = await open(server);
  assert.equal(first.response.headers.get("x-bus-consumer-id"), "mailer");
  const e1 = await first.next();
  assert.equal(JSON.parse(e1.data).attempt, 1);
  await first.close(); // not acked: the next stream gets it again
  const second = await open(server);
  const again = await second.next();
  assert.equal(again.id, e1.id);
  assert.equal(JSON.parse(again.data).attempt, 2);
  await expectStatus(
    fetch(`${server.busUrl}/?consumer_id=mailer&event_id=${again.id}`, { method: "PUT" }),
    202,
  );
  const e2 = await second.next();
  assert.equal(JSON.parse(e2.data).payload, 2);
  await second.close();
  await server.stop();

  server = await startCatbusd([], { data });
  const third = await open(server);
  const after = await third.next();
  assert.equal(after.id, e2.id, "the acked event is not delivered again after a restart");
  await third.close();
  // The server learns of the closed stream a moment later: until then a PUT still acks (202).
  const deadline = Date.now() + 10_000;
  let refused = false;
  while (!refused && Date.now() < deadline) {
    const put = await fetch(`${server.busUrl}/?consumer_id=mailer&event_id=${after.id}`, {
      method: "PUT",
    });
    const body = await put.text();
    refused = put.status === 400;
    if (refused) assert.match(body, /nor a durable consumer with an open stream/);
    else assert.equal(put.status, 202, body);
  }
  assert.ok(refused, "a PUT is refused once the durable consumer has no open stream");
  await expectStatus(fetch(`${server.busUrl}/?subject=mail.out&durable=x`), 400, /ack=manual/);
  await server.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("bus - PUT kind=nak redelivers at once with the next attempt; CORS preflight is answered", async () => {
  await using server = await startCatbusd();
  await post(server, { subject: "jobs.n", payload: "x" });
  const sse = await openSse(
    `${server.busUrl}/?subject=jobs.n&start=oldest&ack=manual&redelivery=60s`,
  );
  const consumer = sse.response.headers.get("x-bus-consumer-id")!;
  const first = await sse.next();
  const settle = (kind: string, eventId: string) =>
    fetch(`${server.busUrl}/?consumer_id=${consumer}&event_id=${eventId}&kind=${kind}`, {
      method: "PUT",
    });
  await expectStatus(settle("nak", first.id!), 202);
  const again = await sse.next();
  assert.equal(again.id, first.id);
  assert.equal(JSON.parse(again.data).attempt, 2);
  await expectStatus(settle("maybe", again.id!), 400, /kind must be one of/);
  await expectStatus(settle("ack", again.id!), 202);
  await sse.close();

  const preflight = await expectStatus(fetch(`${server.busUrl}/`, { method: "OPTIONS" }), 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  assert.match(preflight.headers.get("access-control-allow-methods")!, /PUT/);
});

Deno.test("bus - ?token= is taken on GET only (EventSource); POST and PUT need the header", async () => {
  await using server = await startCatbusd(["--bus-auth", "token"]);
  const token = (await server.cli(["grant", "-p", "all", "app.>"])).stdout.split("\n")[0];
  await expectStatus(
    post(server, { subject: "app.x", payload: 1 }, `?token=${token}`),
    401,
    /GET only.*Authorization: Bearer/,
  );
  await expectStatus(
    fetch(`${server.busUrl}/?consumer_id=c_x&event_id=e_x&token=${token}`, { method: "PUT" }),
    401,
    /GET only/,
  );
  const stream = await openSse(`${server.busUrl}/?subject=app.>&token=${token}`);
  assert.equal(stream.response.status, 200, "EventSource's query form still works");
  await stream.close();
});

Deno.test("bus - an ack needs the read grant on the consumer's pattern, as a native ack does", async () => {
  await using server = await startCatbusd(["--bus-auth", "token"]);
  const worker = await grantToken(server, "-p", "all", "orders.>");
  const outsider = await grantToken(server, "-p", "all", "spam.>");
  await expectStatus(
    fetch(`${server.busUrl}/`, {
      method: "POST",
      headers: { authorization: `Bearer ${worker}` },
      body: JSON.stringify({ subject: "orders.paid", payload: 1 }),
    }),
    202,
  );
  const sse = await openSse(
    `${server.busUrl}/?subject=orders.>&start=oldest&ack=manual&durable=orders-worker` +
      `&redelivery=60s&token=${worker}`,
  );
  const event = await sse.next();
  const put = (token: string) =>
    fetch(`${server.busUrl}/?consumer_id=orders-worker&event_id=${event.id}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}` },
    });
  await expectStatus(put(outsider), 403, /no read grant covers "orders.>"/);
  await expectStatus(put(worker), 202);
  await sse.close();
});

Deno.test("bus - only a token a request was delivered to may post its reply, once; response_subject must be an inbox", async () => {
  await using server = await startCatbusd(["--bus-auth", "token"]);
  const requester = await grantToken(server, "-p", "all", "math.>", "_bus_.r1");
  const responder = await grantToken(server, "-p", "read", "math.>");
  const outsider = await grantToken(server, "-p", "all", "other.>");
  const postAs = (token: string, body: unknown) =>
    fetch(`${server.busUrl}/`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  await expectStatus(postAs(requester, { subject: "math.init", payload: null }), 202);
  const service = await openSse(`${server.busUrl}/?subject=math.add&token=${responder}`);
  const inbox = await openSse(`${server.busUrl}/?subject=_bus_.r1&token=${requester}`);
  await expectStatus(
    postAs(requester, { subject: "math.add", response_subject: "billing.paid", payload: 1 }),
    400,
    /not a reply subject/,
  );
  await expectStatus(
    postAs(requester, { subject: "math.add", response_subject: "_bus_.r1", payload: 1 }),
    202,
  );
  const request = JSON.parse((await service.next()).data);
  assert.equal(request.response_subject, "_bus_.r1");
  await expectStatus(postAs(outsider, { subject: "_bus_.r1", payload: "forged" }), 403);
  await expectStatus(postAs(responder, { subject: "_bus_.r1", payload: 2 }), 202);
  await expectStatus(postAs(responder, { subject: "_bus_.r1", payload: "again" }), 403);
  assert.equal(JSON.parse((await inbox.next()).data).payload, 2);
  await Promise.all([service.close(), inbox.close()]);
});
