import assert from "node:assert/strict";
import { FrameType } from "../src/protocol/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { json, RawConnection } from "./helpers/raw.ts";

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
    const answer = await again.hello(server.adminKey);
    admitted = answer.type === FrameType.Welcome;
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
