import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { json, RawConnection } from "./helpers/raw.ts";
import { within } from "./helpers/deadline.ts";

Deno.test("limits - connections over --max-connections are refused with limit_exceeded", async () => {
  await using server = await startCatbusd(["--max-connections", "2"]);
  const a = await RawConnection.connect(server.tcpPort);
  const b = await RawConnection.connect(server.tcpPort);
  assert.equal((await a.hello(server.adminKey)).type, FrameType.Welcome);
  const third = await RawConnection.connect(server.tcpPort);
  const refused = await third.next(() => true);
  assert.equal(refused.json.code, "limit_exceeded");
  await third.untilClosed();
  // A slot frees up when a connection ends.
  b.close();
  await b.untilClosed();
  let admitted = false;
  while (!admitted) {
    // The server notices b's end asynchronously: retry until its slot is free.
    const again = await RawConnection.connect(server.tcpPort);
    // Refused: the error (id 0) comes instead of the answer, then the connection closes.
    const answer = await again.hello(server.adminKey).catch(() => undefined);
    admitted = answer?.type === FrameType.Welcome;
    again.close();
  }
  a.close();
});

Deno.test("limits - a connection that never says hello is closed after --hello-timeout", async () => {
  await using server = await startCatbusd(["--hello-timeout", "100ms"]);
  const silent = await RawConnection.connect(server.tcpPort);
  const error = await silent.next(() => true);
  assert.equal(error.type, FrameType.Error);
  assert.equal(error.json.code, "timeout");
  assert.match(String(error.json.message), /no hello within 100 ms/);
  await silent.untilClosed();
});

Deno.test("limits - publishes over --max-publish-rate are refused, the connection goes on", async () => {
  await using server = await startCatbusd(["--max-publish-rate", "5"]);
  const c = await RawConnection.connect(server.tcpPort);
  await c.hello(server.adminKey);
  const ids: number[] = [];
  for (let i = 0; i < 20; i++) {
    ids.push(await c.send(FrameType.Publish, { channel: "app.x" }, json(i)));
  }
  const answers = [];
  for (const id of ids) answers.push(await c.reply(id));
  const refused = answers.filter((f) => f.type === FrameType.Error);
  assert.ok(refused.length >= 10, `refused ${refused.length} of 20`);
  assert.ok(refused.every((f) => f.json.code === "limit_exceeded"));
  assert.match(String(refused[0].json.message), /more than 5 publishes per second/);
  assert.equal((await c.reply(await c.send(FrameType.Ping))).type, FrameType.Pong);
  c.close();
});

Deno.test("limits - a door at --max-connections-per-door refuses at once; the other doors still answer", async () => {
  await using server = await startCatbusd(["--max-connections-per-door", "1"]);
  const first = await RawConnection.connect(server.tcpPort);
  assert.equal((await first.hello(server.adminKey)).type, FrameType.Welcome);
  const second = await RawConnection.connect(server.tcpPort);
  const refused = await second.next(() => true);
  assert.equal(refused.json.code, "limit_exceeded");
  assert.match(String(refused.json.message), /--max-connections-per-door/);
  await second.untilClosed();
  // The HTTP door has its own slot: one connection at a time here (a kept-alive one would hold
  // it, so this request asks the server to close its connection after the answer).
  const health = await fetch(`${server.httpUrl}/health`, { headers: { connection: "close" } });
  assert.equal(health.status, 200);
  await health.body?.cancel();
  // A WebSocket holds the HTTP door's slot while it is open.
  const ws = new WebSocket(server.wsUrl);
  await within(
    new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    }),
    10_000,
    "the WebSocket opening",
  );
  const full = await fetch(`${server.httpUrl}/health`);
  assert.equal(full.status, 503);
  assert.equal((await full.json()).code, "limit_exceeded");
  const closed = new Promise((resolve) => ws.onclose = resolve);
  ws.close();
  await within(closed, 10_000, "the WebSocket closing");
  await server.waitForLog(/connection limit reached.*door=tcp/);
  first.close();
});

Deno.test("limits - subscriptions over --max-subscriptions are refused; the same pattern again and a freed slot are not", async () => {
  await using server = await startCatbusd(["--max-subscriptions", "2"]);
  const c = await RawConnection.connect(server.tcpPort);
  await c.hello(server.adminKey);
  const request = async (type: number, pattern: string) =>
    (await c.reply(await c.send(type, { pattern }))).json.code ?? "ok";
  assert.equal(await request(FrameType.Subscribe, "a.x"), "ok");
  assert.equal(await request(FrameType.Subscribe, "a.y"), "ok");
  const refused = await c.reply(await c.send(FrameType.Subscribe, { pattern: "a.z" }));
  assert.equal(refused.json.code, "limit_exceeded");
  assert.match(String(refused.json.message), /at most 2 subscriptions per connection/);
  assert.equal(await request(FrameType.Subscribe, "a.x"), "ok", "already subscribed");
  assert.equal(await request(FrameType.Unsubscribe, "a.y"), "ok");
  assert.equal(await request(FrameType.Subscribe, "a.z"), "ok", "the freed slot");
  c.close();
});
