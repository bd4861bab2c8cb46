import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { nativeClient } from "./helpers/native.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { makeDeadLetters } from "./helpers/dead-letters.ts";
import { post } from "./helpers/bus.ts";
import { labelValues, sample, scrape } from "./helpers/prometheus.ts";
import { json, RawConnection } from "./helpers/raw.ts";
import { ADMIN, api, login, openWs, startPulsar } from "./helpers/pulsar.ts";
import { within } from "./helpers/deadline.ts";

Deno.test("metrics - /metrics counts publishes, deliveries and replays per namespace and door, and connections per door", async () => {
  await using server = await startCatbusd(["--metrics-bind", "127.0.0.1:0"]);
  const metricsUrl = /metrics=(\S+)/.exec(server.log())![1];
  const before = await scrape(`${server.httpUrl}/metrics`);
  assert.equal(sample(before, "catbus_published_messages_total", { namespace: "room" }), undefined);

  const subscriber = await nativeClient(server);
  const got = new AsyncQueue<unknown>();
  await subscriber.subscribe("room.>", (_c, payload) => got.push(payload));
  const publisher = await nativeClient(server);
  for (let i = 0; i < 3; i++) await publisher.publish("room.a", { i });
  const bus = await post(server, { subject: "room.b", payload: { from: "bus" } });
  assert.equal(bus.status, 202, await bus.text());
  for (let i = 0; i < 4; i++) await got.next("a delivery");
  // A late subscriber replays the four from the log.
  const late = new AsyncQueue<unknown>();
  const replayer = await nativeClient(server);
  await replayer.subscribe("room.>", (_c, payload) => late.push(payload), { from: "first" });
  for (let i = 0; i < 4; i++) await late.next("a replayed message");

  for (const url of [`${server.httpUrl}/metrics`, metricsUrl]) {
    const text = await scrape(url);
    const native = { namespace: "room", door: "native" };
    assert.equal(sample(text, "catbus_published_messages_total", native), 3, url);
    assert.equal(
      sample(text, "catbus_published_messages_total", { namespace: "room", door: "bus" }),
      1,
    );
    assert.equal(sample(text, "catbus_published_bytes_total", native), 3 * '{"i":0}'.length);
    assert.equal(sample(text, "catbus_delivered_messages_total", native), 8);
    assert.equal(sample(text, "catbus_replayed_messages_total", native), 4);
    assert.ok(sample(text, "catbus_delivered_bytes_total", native)! > 0);
    assert.equal(sample(text, "catbus_connections", { door: "tcp" }), 3);
    const scraping = url === metricsUrl ? "metrics" : "http";
    assert.equal(sample(text, "catbus_connections", { door: scraping }), 1, "this scrape");
    // The Bus POST's connection stays open for the next request (keep-alive) and holds its slot.
    assert.equal(sample(text, "catbus_connections", { door: "bus" }), 1);
    assert.equal(sample(text, "catbus_live_connections"), 3);
    assert.ok(sample(text, "catbus_log_fsync_seconds_count")! >= 1, "fsync histogram");
    assert.ok(sample(text, "catbus_log_append_seconds_count")! >= 1, "append histogram");
    assert.ok(sample(text, "process_resident_memory_bytes")! > 0);
    assert.notEqual(sample(text, "nodejs_eventloop_lag_seconds"), undefined);
    assert.equal(sample(text, "catbus_build_info", { version: "0.1.0" }), 1);
    assert.equal(sample(text, "catbus_storage_failures_total"), undefined);
  }
  for (const c of [subscriber, publisher, replayer]) await c.disconnect();
});

/** What an operator reads, by the list: every family is there from the start. */
const SERIES = [
  ["connections per door", "catbus_connections", "gauge"],
  ["publishes per namespace and door", "catbus_published_messages_total", "counter"],
  ["deliveries per namespace and door", "catbus_delivered_messages_total", "counter"],
  ["bytes in", "catbus_published_bytes_total", "counter"],
  ["bytes out", "catbus_delivered_bytes_total", "counter"],
  ["slow-consumer drops", "catbus_slow_consumer_drops_total", "counter"],
  ["replay volume", "catbus_replayed_messages_total", "counter"],
  ["replay volume (bytes)", "catbus_replayed_bytes_total", "counter"],
  ["durable consumers", "catbus_consumers", "gauge"],
  ["consumers' pending", "catbus_consumer_pending_messages", "gauge"],
  ["consumers' redelivered", "catbus_consumer_redeliveries_total", "counter"],
  ["consumers' dead-lettered", "catbus_consumer_dead_letters_total", "counter"],
  ["fsync latency", "catbus_log_fsync_seconds", "histogram"],
  ["append latency", "catbus_log_append_seconds", "histogram"],
  ["engine errors", "catbus_storage_failures_total", "counter"],
  ["engine reachable", "catbus_engine_up", "gauge"],
  ["process memory", "process_resident_memory_bytes", "gauge"],
  ["heap", "nodejs_heap_size_used_bytes", "gauge"],
  ["event-loop delay", "nodejs_eventloop_lag_seconds", "gauge"],
  ["event-loop delay p99", "nodejs_eventloop_lag_p99_seconds", "gauge"],
  ["namespaces", "catbus_namespaces", "gauge"],
  ["version", "catbus_build_info", "gauge"],
] as const;

Deno.test("metrics - every series an operator is promised is exposed with its type, on a fresh server", async () => {
  await using server = await startCatbusd();
  const text = await scrape(`${server.httpUrl}/metrics`);
  for (const [what, name, type] of SERIES) {
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, "m"), what);
  }
  assert.equal(sample(text, "catbus_engine_up"), 1);
  assert.ok(sample(text, "nodejs_eventloop_lag_p99_seconds")! >= 0);
  assert.ok(sample(text, "nodejs_heap_size_used_bytes")! > 0);
  // Nothing is labelled per channel or per client.
  for (const line of text.split("\n").filter((l) => l.startsWith("catbus_"))) {
    assert.doesNotMatch(line, /\b(channel|client_id|client|subject)="/, line);
  }
});

Deno.test("metrics - namespaces past --metrics-max-namespaces are summed as _other", async () => {
  await using server = await startCatbusd(["--metrics-max-namespaces", "2"]);
  const c = await nativeClient(server);
  for (const ns of ["a1", "a2", "a3", "a4"]) await c.publish(`${ns}.x`, 1);
  const text = await scrape(`${server.httpUrl}/metrics`);
  const named = labelValues(text, "catbus_published_messages_total", "namespace");
  assert.equal(named.length, 3, named.join());
  assert.ok(named.includes("_other"));
  assert.equal(sample(text, "catbus_published_messages_total"), 4);
  assert.equal(sample(text, "catbus_published_messages_total", { namespace: "_other" }), 2);
  await c.disconnect();
});

Deno.test("metrics - durable consumers' pending, redeliveries and dead letters", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  await c.publish("orders.new", { id: 1 });
  // Delivered twice (one redelivery), then dead-lettered.
  await makeDeadLetters(c, { name: "flaky", pattern: "orders.>", count: 1, maxDeliver: 2 });
  await c.createConsumer({ name: "holding", pattern: "orders.>", from: "first", ackWait: 60_000 });
  const held = new AsyncQueue<number>();
  await c.consume("holding", (m) => {
    held.push(m.attempt);
    return new Promise(() => {});
  });
  await held.next("the held delivery");
  const text = await scrape(`${server.httpUrl}/metrics`);
  assert.equal(sample(text, "catbus_consumers", { namespace: "orders" }), 2);
  assert.equal(sample(text, "catbus_consumer_pending_messages", { namespace: "orders" }), 1);
  assert.equal(sample(text, "catbus_consumer_redeliveries_total", { namespace: "orders" }), 1);
  assert.equal(sample(text, "catbus_consumer_dead_letters_total", { namespace: "orders" }), 1);
  await c.disconnect();
});

Deno.test("metrics - live messages dropped for a slow consumer are counted", async () => {
  await using server = await startCatbusd(["--outbound-bytes", "64KiB"]);
  const stalled = await RawConnection.connect(server.tcpPort, { read: false });
  await stalled.send(FrameType.Hello, { version: 1, token: server.adminKey });
  await stalled.send(FrameType.Subscribe, { pattern: "load.>" });
  const publisher = await RawConnection.connect(server.tcpPort);
  await publisher.hello(server.adminKey);
  const payload = json({ blob: "x".repeat(4000) });
  let drops = 0;
  // The stalled reader's socket buffers fill within a few MB; publish until drops show.
  for (let round = 0; round < 40 && !drops; round++) {
    let last = 0;
    for (let i = 0; i < 250; i++) {
      last = await publisher.send(FrameType.Publish, { channel: "load.x" }, payload);
    }
    await publisher.reply(last);
    drops = sample(await scrape(`${server.httpUrl}/metrics`), "catbus_slow_consumer_drops_total", {
      namespace: "load",
      door: "native",
    }) ?? 0;
  }
  assert.ok(drops > 0, "drops were counted");
  stalled.close();
  publisher.close();
});

Deno.test("metrics - --no-metrics takes /metrics off the main port", async () => {
  await using server = await startCatbusd(["--no-metrics"]);
  const response = await fetch(`${server.httpUrl}/metrics`);
  assert.equal(response.status, 404);
  await response.body?.cancel();
});

Deno.test("metrics - the Pulsar door's publishes, deliveries and connections are counted with door=\"pulsar\", on the main /metrics and the door's own", async () => {
  await using server = await startPulsar();
  const admin = (await login(server, ADMIN.username, ADMIN.password)).access_token;
  const socket = await openWs(server, `?token=${admin}`);
  socket.send({ type: "subscribe", topics: ["metered"] });
  await socket.next("subscribed");
  for (let i = 0; i < 2; i++) {
    const sent = await api(server, "POST", "/api/v1/messages", admin, {
      topic: "metered",
      payload: { i },
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    await socket.next("message");
  }
  // A long-poll waiting for a live message.
  const waiting = api(server, "POST", "/messages/poll", admin, {
    topics: ["metered"],
    timeout: 30,
  });
  await within(
    (async () => {
      while ((await api(server, "GET", "/messages/poll/stats", admin)).body.active_waiters < 1);
    })(),
    15_000,
    "the long-poll waiting",
  );
  await api(server, "POST", "/api/v1/messages", admin, { topic: "metered", payload: { i: 2 } });
  assert.equal((await waiting).body.messages.length, 1);
  await socket.next("message");

  for (const url of [`${server.httpUrl}/metrics`, `${server.pulsarUrl}/metrics`]) {
    const text = await scrape(url);
    const pulsar = { namespace: "pulsar", door: "pulsar" };
    assert.equal(sample(text, "catbus_published_messages_total", pulsar), 3, url);
    assert.equal(sample(text, "catbus_published_bytes_total", pulsar), 3 * '{"i":0}'.length);
    assert.equal(sample(text, "catbus_delivered_messages_total", pulsar), 4, url);
    assert.ok(sample(text, "catbus_connections", { door: "pulsar" })! >= 1, url);
  }
  const own = await scrape(`${server.pulsarUrl}/metrics`);
  assert.equal(sample(own, "pulsar_messages_received_total"), 3);
  assert.equal(sample(own, "pulsar_active_websocket_connections"), 1);
  socket.close();
  await socket.closed;
});
