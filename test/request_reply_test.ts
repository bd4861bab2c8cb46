import assert from "node:assert/strict";
import { CatbusClient } from "../client/mod.ts";
import { CatbusError } from "../client/shared/errors.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { AsyncQueue } from "./helpers/queue.ts";

async function client(server: TestServer, ...grants: string[]) {
  const token = grants.length
    ? (await server.cli([
      "grant",
      ...grants.flatMap((g) => ["-p", g.split(":")[0], g.split(":")[1]]),
    ])).stdout
      .split("\n")[0]
    : server.adminKey;
  const c = new CatbusClient({ url: server.wsUrl, token });
  await c.connect();
  return c;
}

Deno.test("request/reply - a request gets its reply, with ordinary tokens on both sides", async () => {
  await using server = await startCatbusd();
  const admin = await client(server);
  await admin.publish("svc.init", null); // creates the namespace
  const service = await client(server, "read:svc.>");
  const caller = await client(server, "write:svc.>");
  await service.subscribe(
    "svc.double",
    (_c, payload, meta) => service.respond(meta, (payload as number) * 2),
  );
  assert.equal(await caller.request("svc.double", 21), 42);
  const answers = await Promise.all([1, 2, 3].map((n) => caller.request("svc.double", n)));
  assert.deepEqual(answers, [2, 4, 6]);
  await Promise.all([admin, service, caller].map((c) => c.disconnect()));
});

Deno.test("request/reply - no responders is answered at once; a silent service times out", async () => {
  await using server = await startCatbusd();
  const c = await client(server);
  await c.publish("svc.init", null);
  await assert.rejects(
    c.request("svc.nobody", 1),
    (e: unknown) => e instanceof CatbusError && e.code === "no_responders",
  );
  await c.subscribe("svc.silent", () => {});
  await assert.rejects(
    c.request("svc.silent", 1, { timeout: 100 }),
    (e: unknown) => e instanceof CatbusError && e.code === "timeout",
  );
  await c.disconnect();
});

Deno.test("request/reply - a durable consumer on the channel is no responder", async () => {
  await using server = await startCatbusd();
  const c = await client(server);
  await c.publish("svc.init", null);
  await c.createConsumer({ name: "audit", pattern: "svc.>", from: "new" });
  await assert.rejects(
    c.request("svc.nobody", 1, { timeout: 5000 }),
    (e: unknown) => e instanceof CatbusError && e.code === "no_responders",
  );
  await c.disconnect();
});

const code = (expected: string) => (e: unknown) => e instanceof CatbusError && e.code === expected;

Deno.test("request/reply - only a connection the request was delivered to may answer it, once", async () => {
  await using server = await startCatbusd();
  const admin = await client(server);
  await admin.publish("svc.init", null);
  const service = await client(server, "read:svc.>");
  const outsider = await client(server, "read:other.>");
  const caller = await client(server, "write:svc.>");
  const requests = new AsyncQueue<string>();
  const second = new AsyncQueue<unknown>();
  await service.subscribe("svc.time", async (_c, _p, meta) => {
    requests.push(meta.headers!.reply_to);
    await service.respond(meta, "real");
    second.push(await service.respond(meta, "again").catch((e) => e));
  });
  const reply = caller.request("svc.time", null);
  const replyTo = await requests.next("request");
  await assert.rejects(outsider.publish(replyTo, "forged"), code("forbidden"));
  assert.equal(await reply, "real");
  assert.ok(code("forbidden")(await second.next("second answer")), "a second answer is refused");
  await Promise.all([admin, service, outsider, caller].map((c) => c.disconnect()));
});

Deno.test("request/reply - a reply_to must be the requester's own inbox; respond() answers only inboxes", async () => {
  await using server = await startCatbusd();
  const admin = await client(server);
  await admin.publish("svc.init", null);
  const caller = await client(server, "write:svc.>");
  await assert.rejects(
    caller.publish("svc.time", null, { headers: { reply_to: "billing.invoices.paid" } }),
    code("bad_request"),
  );
  await assert.rejects(
    caller.publish("svc.time", null, { headers: { reply_to: "_inbox.someone-else.x.1" } }),
    code("forbidden"),
  );
  await assert.rejects(
    admin.respond(
      {
        channel: "svc.time",
        seq: 1,
        epoch: "e",
        id: "x",
        time: 0,
        headers: { reply_to: "billing.x" },
      },
      "redirected",
    ),
    code("bad_request"),
  );
  await Promise.all([admin, caller].map((c) => c.disconnect()));
});

Deno.test("request/reply - a client id with a wildcard or a dot is refused (it would read other inboxes)", async () => {
  await using server = await startCatbusd();
  for (const id of ["*", ">", "a.b"]) {
    const out = await server.cli(["grant", "-p", "read", "x.>", "--client-id", id]);
    assert.notEqual(out.code, 0, `client id ${id} was accepted`);
    assert.match(out.stderr, /client id/);
  }
});

Deno.test("request/reply - a reply after the request's timeout is refused", async () => {
  await using server = await startCatbusd();
  const admin = await client(server);
  await admin.publish("svc.init", null);
  const service = await client(server, "read:svc.>");
  const caller = await client(server, "write:svc.>");
  const late = new AsyncQueue<unknown>();
  const gaveUp = Promise.withResolvers<void>();
  await service.subscribe("svc.slow", async (_c, _p, meta) => {
    await gaveUp.promise; // answers only once the caller stopped waiting
    // and once the request's timeout has passed on the server's clock too (it started counting
    // when the request was stored, which a busy machine may do after the caller's timer began).
    const expired = meta.time + 200 - Date.now();
    if (expired >= 0) await new Promise((r) => setTimeout(r, expired + 1));
    late.push(await service.respond(meta, "late").catch((e) => e));
  });
  assert.ok(
    code("timeout")(await caller.request("svc.slow", null, { timeout: 200 }).catch((e) => e)),
  );
  gaveUp.resolve();
  assert.ok(code("forbidden")(await late.next("late answer")), "the late answer is refused");
  await Promise.all([admin, service, caller].map((c) => c.disconnect()));
});
