import assert from "node:assert/strict";
import { startCatbusd } from "./helpers/catbusd.ts";
import { openSse } from "./helpers/sse.ts";

Deno.test("cli - consumer add, consume with ack, list and delete", async () => {
  await using server = await startCatbusd();
  assert.equal((await server.cli(["publish", "jobs.a", '{"n":1}'])).code, 0);
  const added = await server.cli([
    "consumer",
    "add",
    "w",
    "jobs.>",
    "--from",
    "first",
    "--ack-wait",
    "30s",
  ]);
  assert.equal(added.code, 0, added.stderr);
  assert.equal(JSON.parse(added.stdout).ackWaitMs, 30_000);
  const consumed = await server.cli(["consume", "w", "--count", "1"]);
  assert.equal(consumed.code, 0, consumed.stderr);
  const line = JSON.parse(consumed.stdout.trim());
  assert.deepEqual([line.channel, line.payload, line.attempt], ["jobs.a", { n: 1 }, 1]);
  const listed = JSON.parse((await server.cli(["consumer", "list", "--json"])).stdout);
  assert.deepEqual(listed.map((c: { name: string; pending: number }) => [c.name, c.pending]), [[
    "w",
    0,
  ]]);
  assert.equal((await server.cli(["consumer", "delete", "w"])).code, 0);
  const gone = await server.cli(["consume", "w", "--count", "1"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /not_found: no consumer named "w"/);
  assert.equal((await server.cli(["consumer", "frobnicate"])).code, 2);
});

Deno.test("cli - put, get and ack in the Bus seed's style", async () => {
  await using server = await startCatbusd();
  const bus = ["--bus-url", server.busUrl];
  const put = await server.cli([
    "put",
    ...bus,
    "--subject",
    "app.test",
    "--data",
    '{"hello":"world"}',
    "--trace-id",
    "req-1",
  ]);
  assert.equal(put.code, 0, put.stderr);
  // As the original's put prints its response.
  const [, id, index] = /^id: (e_\S+), index: (\d+), created_at: \S+Z$/.exec(put.stdout.trim())!;
  assert.equal(index, "1");
  const got = await server.cli([
    "get",
    ...bus,
    "--subject",
    "app.*",
    "--start",
    "oldest",
    "--count",
    "1",
  ]);
  assert.equal(got.code, 0, got.stderr);
  const event = JSON.parse(got.stdout.trim());
  assert.deepEqual([event.id, event.payload, event.trace_id], [id, { hello: "world" }, "req-1"]);

  const sse = await openSse(`${server.busUrl}/?subject=app.test&start=oldest&ack=manual`);
  const consumer = sse.response.headers.get("x-bus-consumer-id")!;
  const delivered = await sse.next();
  const ack = ["ack", ...bus, "--consumer-id", consumer, "--event-id", delivered.id!];
  assert.equal((await server.cli(ack)).code, 0);
  const again = await server.cli(ack);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /409 event .* is not awaiting an ack/);
  await sse.close();
  // --durable: a named consumer the server keeps (listed like any other).
  const durable = await server.cli(
    [
      "get",
      ...bus,
      "--subject",
      "app.test",
      "--start",
      "oldest",
      "--ack",
      "manual",
      "--durable",
      "audit",
      "--count",
      "1",
    ],
  );
  assert.equal(durable.code, 0, durable.stderr);
  assert.equal(JSON.parse(durable.stdout.trim()).id, id);
  const listed = JSON.parse((await server.cli(["consumer", "list", "--json"])).stdout);
  assert.ok(listed.some((c: { name: string }) => c.name === "audit"));
  const bad = await server.cli(["put", ...bus, "--subject", "app.*", "--data", "1"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /400 .*wildcard/);
});
