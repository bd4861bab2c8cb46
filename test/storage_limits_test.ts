import assert from "node:assert/strict";
import { CatbusError } from "../client/shared/errors.ts";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { nativeClient } from "./helpers/native.ts";
import { json, RawConnection } from "./helpers/raw.ts";

const code = (expected: string) => (e: unknown) => e instanceof CatbusError && e.code === expected;

async function openFiles(pid: number): Promise<number> {
  let n = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) n++;
  return n;
}

/**
 * Files beyond the bound are closed on their log's own write chain, just after the write that
 * pushed them out: waits for that, with a deadline.
 */
async function assertBounded(pid: number, bound: number) {
  const deadline = Date.now() + 5000;
  let now = await openFiles(pid);
  while (now > bound && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    now = await openFiles(pid);
  }
  assert.ok(now <= bound, `${now} files open, at most ${bound} expected`);
}

Deno.test("storage limits - namespace N+1 and consumer N+1 are refused with limit_exceeded", async () => {
  // `$sys` (dead letters) is stored too: it is one of the five.
  await using server = await startCatbusd(["--max-namespaces", "5", "--max-consumers", "2"]);
  const c = await nativeClient(server);
  for (const ns of ["a", "b", "c", "d"]) await c.publish(`${ns}.x`, 1);
  await assert.rejects(c.publish("e.x", 1), (e) => {
    assert.ok(code("limit_exceeded")(e), String(e));
    assert.match((e as Error).message, /--max-namespaces 5/);
    return true;
  });
  await c.publish("a.y", 2); // existing namespaces go on
  await c.createConsumer({ name: "one", pattern: "a.>" });
  await c.createConsumer({ name: "two", pattern: "b.>" });
  await assert.rejects(c.createConsumer({ name: "three", pattern: "c.>" }), (e) => {
    assert.ok(code("limit_exceeded")(e), String(e));
    assert.match((e as Error).message, /--max-consumers 2/);
    return true;
  });
  await c.createConsumer({ name: "one", pattern: "a.>" }); // the same one again is no new one
  await c.deleteConsumer("two");
  await c.createConsumer({ name: "three", pattern: "c.>" });
  await c.disconnect();
});

Deno.test({
  name: "storage limits - open files stay bounded while namespaces grow",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const data = await Deno.makeTempDir({ prefix: "catbus-fds-" });
    const args = ["--max-open-segments", "8"];
    const server = await startCatbusd(args, { data });
    const c = await RawConnection.connect(server.tcpPort);
    await c.hello(server.adminKey);
    const publish = async (channel: string) => {
      const ok = await c.reply(await c.send(FrameType.Publish, { channel }, json(1)));
      assert.equal(ok.type, FrameType.Ok, JSON.stringify(ok.json));
    };
    await publish("warm.x");
    const before = await openFiles(server.pid);
    for (let i = 0; i < 120; i++) await publish(`ns${i}.x`);
    await assertBounded(server.pid, before + 8);
    // A namespace whose file was closed writes again (it reopens it).
    await publish("ns0.y");
    const sub = await c.reply(
      await c.send(FrameType.Subscribe, { pattern: "ns0.>", from: "first" }),
    );
    assert.equal(sub.type, FrameType.Ok);
    assert.equal((sub.json.namespaces as Record<string, { seq: number }>).ns0.seq, 2);
    c.close();
    await server.stop();
    // Opening every stored namespace at start-up holds no file open either.
    await using again = await startCatbusd(args, { data });
    await assertBounded(again.pid, before + 8);
    await again.stop();
    await Deno.remove(data, { recursive: true });
  },
});

Deno.test("storage names - a namespace too long for a file name is stored and found again", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-names-" });
  const long = "ü".repeat(60); // 120 bytes as a channel, 360 characters URI-encoded
  const first = await startCatbusd([], { data });
  const c = await nativeClient(first);
  const published = await c.publish(`${long}.x`, "kept");
  await c.publish("plain.x", "kept too");
  await c.disconnect();
  await first.stop();
  // Names that were safe keep their old directory.
  assert.ok((await Deno.stat(`${data}/streams/plain`)).isDirectory);
  await using second = await startCatbusd([], { data });
  const raw = await RawConnection.connect(second.tcpPort);
  await raw.hello(second.adminKey);
  const ok = await raw.reply(
    await raw.send(FrameType.Subscribe, { pattern: `${long}.>`, from: "first" }),
  );
  assert.equal(ok.type, FrameType.Ok, JSON.stringify(ok.json));
  assert.deepEqual((ok.json.namespaces as Record<string, unknown>)[long], {
    epoch: published.epoch,
    seq: 1,
    recovered: true,
    replayed: 1,
  });
  const m = await raw.next((f) => f.type === FrameType.Message);
  assert.equal(new TextDecoder().decode(m.data), '"kept"');
  const listed = await second.cli(["debug", "--data", data, "--json"]);
  assert.deepEqual(
    JSON.parse(listed.stdout).map((n: { namespace: string }) => n.namespace).sort(),
    ["$sys", "plain", long].sort(),
  );
  raw.close();
  await second.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("storage names - a channel with a lone surrogate is refused with bad_request", async () => {
  await using server = await startCatbusd();
  const c = await RawConnection.connect(server.tcpPort);
  await c.hello(server.adminKey);
  const refused = await c.reply(
    await c.send(FrameType.Publish, { channel: "bad\ud800.x" }, json(1)),
  );
  assert.equal(refused.json.code, "bad_request", JSON.stringify(refused.json));
  assert.match(String(refused.json.message), /surrogate/);
  const ok = await c.reply(await c.send(FrameType.Publish, { channel: "good.x" }, json(1)));
  assert.equal(ok.type, FrameType.Ok);
  c.close();
});
