import assert from "node:assert/strict";
import { CatbusClient, sseTransport } from "../client/mod.ts";
import { FrameType } from "../client/shared/frame.ts";
import { json, RawConnection } from "./helpers/raw.ts";
import { codeOf, connectSm, ORDER, startSm } from "./sm_helpers.ts";

/** `levels` objects inside each other, as a value. */
function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

Deno.test("json depth - deeper than --max-json-depth is bad_request at the native, SSE and Bus doors", async () => {
  await using server = await startSm(["--max-json-depth", "32"]);
  const c = await RawConnection.connect(server.tcpPort);
  await c.hello(server.adminKey);
  const expectError = async (id: number, pattern: RegExp) => {
    const f = await c.reply(id);
    assert.equal(f.type, FrameType.Error, JSON.stringify(f.json));
    assert.equal(f.json.code, "bad_request");
    assert.match(String(f.json.message), pattern);
  };
  // Payload, and meta (headers are the one nested field a publish has).
  await expectError(
    await c.send(FrameType.Publish, { channel: "deep.x" }, json(nested(40))),
    /payload nests .* deeper than 32 levels/,
  );
  await expectError(
    await c.send(FrameType.Publish, { channel: "deep.x", headers: nested(40) }, json(1)),
    /meta nests .* deeper than 32 levels/,
  );
  // Within the limit is fine, and the connection goes on.
  const ok = await c.reply(
    await c.send(FrameType.Publish, { channel: "deep.x" }, json(nested(30))),
  );
  assert.equal(ok.type, FrameType.Ok, JSON.stringify(ok.json));

  // Native protocol over SSE (frames POSTed up).
  const sse = new CatbusClient({
    url: server.httpUrl,
    token: server.adminKey,
    transport: sseTransport(),
  });
  await sse.connect();
  await assert.rejects(sse.publish("deep.x", nested(40)), /deeper than 32 levels/);
  await sse.publish("deep.x", nested(3));
  await sse.disconnect();

  // Bus POST bodies.
  const post = (body: unknown) =>
    fetch(`${server.busUrl}/`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const refused = await post({ subject: "deep.x", payload: nested(40) });
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /deeper than 32 levels/);
  const accepted = await post({ subject: "deep.x", payload: nested(3) });
  assert.equal(accepted.status, 202, await accepted.text());
  c.close();
});

Deno.test("json depth - a deep RCP ctx is BAD_REQUEST and leaves the state machines writable", async () => {
  await using server = await startSm();
  const c = await connectSm(server);
  await c.request("PUT_MACHINE", { machine: "order", version: 1, definition: ORDER });
  const created = await c.request("CREATE_INSTANCE", {
    machine: "order",
    version: 1,
    initial_ctx: { amount: 1 },
  }) as { instance_id: string };
  const id = created.instance_id;
  // 8,000 levels once broke the WAL (every later write refused); 100,000 broke compaction.
  for (const levels of [200, 8_000, 100_000]) {
    assert.equal(
      await codeOf(c.request("APPLY_EVENT", {
        instance_id: id,
        event: "PAY",
        payload: { deep: nested(levels) },
        idempotency_key: `k${levels}`,
      })),
      "BAD_REQUEST",
    );
    assert.equal(
      await codeOf(c.request("CREATE_INSTANCE", {
        machine: "order",
        version: 1,
        initial_ctx: nested(levels),
      })),
      "BAD_REQUEST",
    );
  }
  const paid = await c.request("APPLY_EVENT", {
    instance_id: id,
    event: "PAY",
    payload: { deep: nested(100) },
    idempotency_key: "ok",
  }) as { to_state: string };
  assert.equal(paid.to_state, "paid");
  assert.equal(await codeOf(c.request("LIST_INSTANCES", {})), "ok");
  c.close();
});
