import assert from "node:assert/strict";
import { CatbusClient } from "../client/mod.ts";
import { CatbusError } from "../src/core/errors.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";

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
