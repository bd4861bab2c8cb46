/**
 * Bus's Go SDK against Catbus: each test speaks HTTP as that client does (its query strings,
 * headers and bodies, written from the protocol), against a real catbusd.
 */
import assert from "node:assert/strict";
import { grantToken, nativeClient } from "./helpers/native.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";
import { expectStatus, post, put } from "./helpers/bus.ts";
import { openSse } from "./helpers/sse.ts";

/** What `client.Get` sends unless both WithAckStrategy and WithDelivery are given. */
const defaultGet = (server: TestServer, subject: string, start = "oldest") =>
  openSse(
    `${server.busUrl}/?ack=&redelivery=0s&start=${start}&subject=${encodeURIComponent(subject)}`,
  );

/** A publish body as the Go SDK writes one: empty id, Go's zero time when none was set. */
const goEvent = (fields: Record<string, unknown>) => ({
  id: "",
  created_at: "0001-01-01T00:00:00Z",
  ...fields,
});

const next = (sse: Awaited<ReturnType<typeof openSse>>, what: string) =>
  within(sse.next(), 5000, what);

Deno.test("bus sdk - the default Get (ack= and redelivery=0s) streams; Go durations set redelivery", async () => {
  await using server = await startCatbusd();
  await expectStatus(
    post(server, goEvent({ subject: "app.users.created", payload: { n: 1 } })),
    202,
  );
  const sse = await defaultGet(server, "app.users.*");
  assert.equal(sse.response.status, 200);
  assert.deepEqual(JSON.parse((await next(sse, "the stored event")).data).payload, { n: 1 });
  await sse.close();

  const odd = await openSse(
    `${server.busUrl}/?subject=app.users.*&ack=sometimes&redelivery=soon&redelivery_count=x`,
  );
  assert.equal(odd.response.status, 200, "unreadable values fall back to the defaults");
  await odd.close();

  // WithAckStrategy(AckManual) + WithDelivery(90*time.Second, 2) sends Go's duration text.
  const manual = await openSse(
    `${server.busUrl}/?ack=manual&redelivery=1m30s&redelivery_count=2&start=oldest` +
      `&subject=app.users.%2A`,
  );
  const consumer = manual.response.headers.get("x-bus-consumer-id")!;
  await next(manual, "the manual-ack delivery");
  const c = await nativeClient(server);
  const info = (await c.listConsumers()).find((i) => i.name === consumer);
  assert.equal(info?.ackWaitMs, 90_000);
  assert.equal(info?.maxDeliver, 2);
  await c.disconnect();
  await manual.close();
});

Deno.test("bus sdk - reply inboxes (_bus_) are served when namespaces are declared", async () => {
  await using server = await startCatbusd(["--namespaces", "app"]);
  const inbox = await openSse(`${server.busUrl}/?ack=none&redelivery=5s&subject=_bus_.r1`);
  assert.equal(inbox.response.status, 200);
  await inbox.close();
  await expectStatus(fetch(`${server.busUrl}/?subject=other.x`), 400, /not declared/);
});

Deno.test("bus sdk - request/reply and confirm work as the Go client does them (ack, then reply)", async () => {
  await using server = await startCatbusd(["--namespaces", "app"]);
  // Responder: client.Get with defaults, then for each event Event.Ack (PUT), then its reply.
  const responder = await defaultGet(server, "app.rpc.*", "newest");
  const responderId = responder.response.headers.get("x-bus-consumer-id")!;
  // Requester: Put WithRequestReply subscribes to its inbox first, then publishes.
  const inbox = await openSse(`${server.busUrl}/?ack=none&redelivery=5s&subject=_bus_.req1`);
  await expectStatus(
    post(
      server,
      goEvent({ subject: "app.rpc.add", response_subject: "_bus_.req1", payload: { a: 1, b: 2 } }),
    ),
    202,
  );
  const request = await next(responder, "the request");
  const { a, b, response_subject } = {
    ...JSON.parse(request.data).payload,
    ...JSON.parse(request.data),
  };
  await expectStatus(put(server, responderId, request.id!), 202);
  await expectStatus(
    post(server, goEvent({ subject: response_subject, payload: { sum: a + b } })),
    202,
  );
  assert.deepEqual(JSON.parse((await next(inbox, "the reply")).data).payload, { sum: 3 });
  await inbox.close();

  // Confirm: WithConfirm(2) waits for two replies; Event.Ack with no data replies without a payload.
  const second = await defaultGet(server, "app.rpc.*", "newest");
  const secondId = second.response.headers.get("x-bus-consumer-id")!;
  const confirms = await openSse(`${server.busUrl}/?ack=none&redelivery=5s&subject=_bus_.c1`);
  await expectStatus(
    post(server, goEvent({ subject: "app.rpc.job", response_subject: "_bus_.c1", payload: {} })),
    202,
  );
  for (const [stream, id] of [[responder, responderId], [second, secondId]] as const) {
    const job = await next(stream, "the job");
    await expectStatus(put(server, id, job.id!), 202);
    await expectStatus(post(server, goEvent({ subject: "_bus_.c1" })), 202);
  }
  for (let i = 0; i < 2; i++) {
    const confirmation = JSON.parse((await next(confirms, `confirmation ${i + 1}`)).data);
    assert.equal("payload" in confirmation, false, "an event without a payload omits the field");
  }
  for (const s of [responder, second, confirms]) await s.close();
});

Deno.test("bus sdk - a no-op ack still needs the read grant; manual-ack streams keep 404 and 409", async () => {
  await using server = await startCatbusd(["--bus-auth", "token"]);
  const reader = await grantToken(server, "-p", "all", "app.>");
  const outsider = await grantToken(server, "-p", "all", "spam.>");
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  await expectStatus(post(server, { subject: "app.x", payload: 1 }, "", auth(reader)), 202);
  const sse = await openSse(`${server.busUrl}/?subject=app.>&start=oldest&token=${reader}`);
  const id = sse.response.headers.get("x-bus-consumer-id")!;
  const event = await next(sse, "the event");
  await expectStatus(put(server, id, event.id!, auth(outsider)), 403);
  await expectStatus(put(server, id, event.id!, auth(reader)), 202);
  await sse.close();
  await expectStatus(put(server, `c_${"x".repeat(20)}`, event.id!, auth(reader)), 404, /ended/);

  const manual = await openSse(
    `${server.busUrl}/?subject=app.>&start=oldest&ack=manual&redelivery=60s&token=${reader}`,
  );
  const manualId = manual.response.headers.get("x-bus-consumer-id")!;
  const delivery = await next(manual, "the manual delivery");
  await expectStatus(put(server, manualId, delivery.id!, auth(reader)), 202);
  await expectStatus(put(server, manualId, delivery.id!, auth(reader)), 409);
  await manual.close();
});

Deno.test("bus sdk - payloads come back byte for byte, on the Bus door and the native one", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-bus-verbatim-" });
  let server = await startCatbusd([], { data });
  const text = `{"big":12345678901234567890,"f":1.0,"x":1e2,"s":"\\u00e9"}`;
  await expectStatus(post(server, `{"subject":"nums.a","payload":${text}}`), 202);
  await expectStatus(post(server, `[{"subject":"nums.b","payload":[1.50, -0.0]}]`), 202);
  await expectStatus(post(server, `{"subject":"nums.c"}`), 202);
  await expectStatus(post(server, `{"subject":"nums.d","payload":[1,}`), 400, /not JSON/);
  const badUtf8 = new Uint8Array([
    ...new TextEncoder().encode('{"subject":"nums.e","payload":"'),
    0xff,
    ...new TextEncoder().encode('"}'),
  ]);
  await expectStatus(
    fetch(`${server.busUrl}/`, { method: "POST", body: badUtf8 }),
    400,
    /not valid UTF-8/,
  );
  await server.stop();
  server = await startCatbusd([], { data });
  const sse = await openSse(`${server.busUrl}/?subject=nums.>&start=oldest`);
  const events = [];
  for (let i = 0; i < 3; i++) events.push((await next(sse, `event ${i}`)).data);
  assert.ok(events[0].includes(`"payload":${text}`), events[0]);
  assert.ok(events[1].includes(`"payload":[1.50, -0.0]`), events[1]);
  assert.equal(events[2].includes(`"payload"`), false, events[2]);
  await sse.close();
  // The native door gets the same text (its client parses it; the frame carries the bytes).
  const c = await nativeClient(server);
  const got: unknown[] = [];
  await c.subscribe("nums.>", (_ch, payload) => got.push(payload), { from: "first" });
  assert.deepEqual(got[2], null, "a Bus event without a payload is null natively");
  await c.disconnect();
  await server.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("bus sdk - a publish with id and created_at keeps them; a repeat is answered, not stored", async () => {
  await using source = await startCatbusd();
  await using target = await startCatbusd();
  const first = await expectStatus(post(source, { subject: "log.a", payload: 1 }), 202);
  const id = first.headers.get("x-bus-event-id")!;
  const createdAt = first.headers.get("x-bus-event-created-at")!;
  const restore = () => post(target, { id, created_at: createdAt, subject: "log.a", payload: 1 });
  for (let i = 0; i < 2; i++) {
    const r = await expectStatus(restore(), 202);
    assert.equal(r.headers.get("x-bus-event-id"), id);
    assert.equal(r.headers.get("x-bus-event-created-at"), createdAt);
    assert.equal(r.headers.get("x-bus-event-index"), "1", "restoring twice stores it once");
  }
  await expectStatus(post(target, { subject: "log.a", payload: 2 }), 202);
  // A time before the namespace's newest event would break the time index.
  await expectStatus(
    post(target, { subject: "log.a", created_at: "2020-01-01T00:00:00Z", payload: 3 }),
    409,
    /before the newest/,
  );
  await expectStatus(
    post(target, { id, created_at: "2020-01-01T00:00:00Z", subject: "log.a", payload: 3 }),
    400,
    /send both as stored/,
  );
  const sse = await openSse(`${target.busUrl}/?subject=log.a&start=${id}`);
  assert.equal(JSON.parse((await next(sse, "the event after the restored one")).data).payload, 2);
  await sse.close();
});

Deno.test("bus sdk - subjects need a namespace; an unknown start id is an error event; a foreign Last-Event-ID is ignored", async () => {
  await using server = await startCatbusd();
  await expectStatus(
    post(server, { subject: "nodot", payload: 1 }),
    400,
    /invalid subject: missing namespace/,
  );
  await expectStatus(
    fetch(`${server.busUrl}/?subject=nodot`),
    400,
    /invalid subject: missing namespace/,
  );
  const a = await expectStatus(post(server, { subject: "a.x", payload: 1 }), 202);
  await expectStatus(post(server, { subject: "b.x", payload: 2 }), 202);
  const aId = a.headers.get("x-bus-event-id")!;

  const unknown = `e_${aId.slice(2, 15)}${"0".repeat(7)}`;
  for (const [subject, start] of [["a.>", unknown], ["b.>", aId]]) {
    const sse = await openSse(`${server.busUrl}/?subject=${subject}&start=${start}`);
    assert.equal(sse.response.status, 200);
    const e = await next(sse, "the error event");
    assert.equal(e.event, "error");
    assert.match(e.data, /not found/);
    await within(sse.ended, 5000, "the stream ends");
  }
  const sse = await openSse(`${server.busUrl}/?subject=a.>&start=oldest`, {
    "last-event-id": "foo",
  });
  assert.equal(JSON.parse((await next(sse, "the replay from oldest")).data).payload, 1);
  await sse.close();
});

Deno.test("bus sdk - HEAD / answers as GET / does (wget --spider), and every path is the API", async () => {
  await using server = await startCatbusd();
  await expectStatus(fetch(`${server.busUrl}/`, { method: "HEAD" }), 400);
  await expectStatus(fetch(`${server.busUrl}/?subject=a.b`, { method: "HEAD" }), 200);
  await expectStatus(post(server, { subject: "a.b", payload: 1 }, "api/v1"), 202);
  const sse = await openSse(`${server.busUrl}/some/path?subject=a.b&start=oldest`);
  assert.equal(JSON.parse((await next(sse, "the event")).data).payload, 1);
  assert.equal(sse.response.headers.get("access-control-allow-origin"), "*");
  await sse.close();
});

Deno.test("bus sdk - BUS_PATH is the storage directory; BUS_DUP_SIZE bounds the remembered keys", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-bus-path-" });
  const env = { BUS_PATH: data, BUS_LOG_LEVEL: "INFO", BUS_DUP_TTL: "1m0s", BUS_DUP_SIZE: "1" };
  let server = await startCatbusd([], { data, env, settingsFromEnv: true });
  const keyed = (key: string) => post(server, { subject: "orders.paid", key, payload: key });
  await expectStatus(keyed("k1"), 202);
  await expectStatus(keyed("k1"), 409, /key was processed before/);
  await expectStatus(keyed("k2"), 202);
  // One key remembered: k2 pushed k1 out.
  await expectStatus(keyed("k1"), 202);
  await server.stop();
  assert.ok((await Deno.stat(`${data}/streams/orders`)).isDirectory, "stored under BUS_PATH");
  server = await startCatbusd([], { data, env, settingsFromEnv: true });
  const sse = await openSse(`${server.busUrl}/?subject=orders.paid&start=oldest`);
  assert.equal(
    JSON.parse((await next(sse, "the event kept across the restart")).data).payload,
    "k1",
  );
  await sse.close();
  await server.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("bus sdk - catbus dump, restore and copy keep ids, times and payload bytes", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-bus-dump-" });
  const source = await startCatbusd([], { data });
  const published = [];
  for (const payload of ['{"big":12345678901234567890}', "1.0", '"three"']) {
    const r = await expectStatus(post(source, `{"subject":"log.a","payload":${payload}}`), 202);
    published.push({
      id: r.headers.get("x-bus-event-id")!,
      created_at: r.headers.get("x-bus-event-created-at")!,
      payload,
    });
  }
  await source.stop();
  const dump = `${data}/dump.ndjson`;
  const cli = async (...args: string[]) => {
    const out = await source.cli(args);
    assert.equal(out.code, 0, out.stderr);
    return out.stdout;
  };
  await cli("dump", "--path", data, "--output", dump);
  const restored = await Deno.makeTempDir({ prefix: "catbus-bus-restored-" });
  assert.deepEqual(JSON.parse(await cli("restore", "--input", dump, "--path", restored)), {
    stored: 3,
    duplicates: 0,
  });
  assert.deepEqual(JSON.parse(await cli("restore", "--input", dump, "--path", restored)), {
    stored: 0,
    duplicates: 3,
  });
  await cli("copy", "--dir", restored, "--src", "log", "--dst", "archive");

  // Resuming from the first event's id against the copies replays only what follows it.
  const copy = await startCatbusd([], { data: restored });
  for (const subject of ["log.a", "archive.a"]) {
    const sse = await openSse(`${copy.busUrl}/?subject=${subject}&start=${published[0].id}`);
    for (const expected of published.slice(1)) {
      const event = JSON.parse((await next(sse, "a restored event")).data);
      assert.equal(event.id, expected.id);
      assert.equal(event.created_at, expected.created_at);
    }
    await sse.close();
  }
  const all = await openSse(`${copy.busUrl}/?subject=archive.a&start=oldest`);
  const first = await next(all, "the copied namespace's first event");
  assert.ok(first.data.includes(`"payload":${published[0].payload}`), first.data);
  assert.equal(first.id, published[0].id, "a copy keeps the id");
  await all.close();

  // Through a running server's Bus listener, as the original's restore does.
  await using live = await startCatbusd();
  await cli("restore", "--input", dump, "--host", live.busUrl);
  const sse = await openSse(`${live.busUrl}/?subject=log.a&start=${published[1].id}`);
  const last = await next(sse, "the event after the second");
  assert.equal(last.id, published[2].id);
  assert.ok(last.data.includes(`"payload":"three"`), last.data);
  await sse.close();
  await copy.stop();
  await Deno.remove(data, { recursive: true });
  await Deno.remove(restored, { recursive: true });
});

Deno.test("bus sdk - the CLI takes the original's flags and prints what it prints", async () => {
  await using server = await startCatbusd();
  const host = ["--host", server.busUrl];
  const cli = async (...args: string[]) => {
    const out = await server.cli(args);
    assert.equal(out.code, 0, out.stderr);
    return out;
  };
  const published = await cli("put", ...host, "--subject", "app.cli");
  assert.match(published.stdout.trim(), /^id: e_\S+, index: 1, created_at: \S+Z$/);
  const got = await cli(
    "get",
    ...host,
    "--subject",
    "app.*",
    "--start",
    "oldest",
    "--ack",
    "auto",
    "--redelivery-duration",
    "1m0s",
    "--redelivery-count",
    "2",
    "--count",
    "1",
  );
  assert.match(got.stderr, /consumer-id: c_[a-z0-9]{20}/);
  assert.deepEqual(JSON.parse(got.stdout.trim()).payload, {}, "put without --data sends {}");

  // --confirm 1 returns once a consumer acked and replied, as Bus's Go consumers do.
  const consumer = await defaultGet(server, "app.jobs", "newest");
  const consumerId = consumer.response.headers.get("x-bus-consumer-id")!;
  const confirmed = server.cli([
    "put",
    ...host,
    "--subject",
    "app.jobs",
    "--data",
    "7",
    "--confirm",
    "1",
  ]);
  const job = await next(consumer, "the job");
  const { response_subject } = JSON.parse(job.data);
  await expectStatus(put(server, consumerId, job.id!), 202);
  await expectStatus(post(server, { subject: response_subject }), 202);
  const out = await within(confirmed, 10_000, "put --confirm returns");
  assert.equal(out.code, 0, out.stderr);
  await consumer.close();
});
