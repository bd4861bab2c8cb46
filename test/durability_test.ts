import assert from "node:assert/strict";
import { CatbusClient, type PublishResult } from "../client/mod.ts";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { json, RawConnection } from "./helpers/raw.ts";

Deno.test("durability - messages, positions and dedupe keys survive a restart", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-durable-" });
  const first = await startCatbusd(["--history-messages", "3"], { data });
  const pub = new CatbusClient({ url: first.wsUrl, token: first.adminKey, autoReconnect: false });
  await pub.connect();
  const acks: PublishResult[] = [];
  for (let i = 1; i <= 10; i++) {
    acks.push(await pub.publish(`orders.eu.${i % 2 ? "odd" : "even"}`, { i }, { key: `k${i}` }));
  }
  await pub.disconnect();
  await first.stop();

  await using second = await startCatbusd(["--history-messages", "3"], { data });
  const raw = await RawConnection.connect(second.tcpPort);
  await raw.hello(second.adminKey);
  // Resume across the restart: same epoch, the gap replayed from disk (memory holds only 3).
  const resumed = await raw.reply(
    await raw.send(FrameType.Subscribe, {
      pattern: "orders.eu.odd",
      resume: { orders: { epoch: acks[0].epoch, seq: 2 } },
    }),
  );
  assert.equal(resumed.json.recovered, true, JSON.stringify(resumed.json));
  const replayed = [];
  while (replayed.length < 4) replayed.push(await raw.next((f) => f.type === FrameType.Message));
  assert.deepEqual(replayed.map((m) => m.json.seq), [3, 5, 7, 9]);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(replayed[0].data)), { i: 3 });

  // Start points after a restart: a sequence, a time, a message id.
  const starts = [
    [{ seq: 8 }, [8, 9, 10]],
    [{ time: acks[8].time }, acks.filter((a) => a.time >= acks[8].time).map((a) => a.seq)],
    [{ id: acks[6].id }, [8, 9, 10]],
    ["first", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
    ["last", [10]],
  ] as [unknown, readonly number[]][];
  for (const [from, want] of starts) {
    const c = await RawConnection.connect(second.tcpPort);
    await c.hello(second.adminKey);
    const ok = await c.reply(await c.send(FrameType.Subscribe, { pattern: "orders.>", from }));
    assert.equal(ok.type, FrameType.Ok, JSON.stringify(ok.json));
    const seqs = [];
    while (seqs.length < want.length) {
      seqs.push((await c.next((f) => f.type === FrameType.Message)).json.seq);
    }
    assert.deepEqual(seqs, want, JSON.stringify(from));
    c.close();
  }

  // A repeated key after the restart is acknowledged with the original position.
  const again = await raw.reply(
    await raw.send(FrameType.Publish, { channel: "orders.eu.odd", key: "k3" }, json({ i: 3 })),
  );
  assert.deepEqual([again.json.seq, again.json.duplicate, again.json.id], [3, true, acks[2].id]);
  const fresh = await raw.reply(
    await raw.send(FrameType.Publish, { channel: "orders.eu.odd", key: "k11" }, json({ i: 11 })),
  );
  assert.equal(fresh.json.seq, 11);
  raw.close();
  await second.stop(); // before its directory goes
  await Deno.remove(data, { recursive: true });
});

Deno.test("durability - a message past its ttl is not replayed", async () => {
  await using server = await startCatbusd();
  const raw = await RawConnection.connect(server.tcpPort);
  await raw.hello(server.adminKey);
  await raw.reply(await raw.send(FrameType.Publish, { channel: "news.a", ttl: 1 }, json("short")));
  await raw.reply(await raw.send(FrameType.Publish, { channel: "news.a" }, json("long")));
  // The first one's ttl of 1 ms has passed by the time a new subscriber asks for everything.
  await new Promise((r) => setTimeout(r, 5));
  const c = await RawConnection.connect(server.tcpPort);
  await c.hello(server.adminKey);
  await c.reply(await c.send(FrameType.Subscribe, { pattern: "news.>", from: "first" }));
  const m = await c.next((f) => f.type === FrameType.Message);
  assert.equal(new TextDecoder().decode(m.data), '"long"');
  raw.close();
  c.close();
});

Deno.test("durability - declared namespaces: others are refused until added, without a restart", async () => {
  await using server = await startCatbusd(["--namespaces", "orders"]);
  const raw = await RawConnection.connect(server.tcpPort);
  await raw.hello(server.adminKey);
  const ok = await raw.reply(await raw.send(FrameType.Publish, { channel: "orders.x" }, json(1)));
  assert.equal(ok.type, FrameType.Ok);
  const refused = await raw.reply(
    await raw.send(FrameType.Publish, { channel: "audit.x" }, json(1)),
  );
  assert.equal(refused.json.code, "bad_request");
  assert.match(refused.json.message as string, /catbus namespace add audit/);
  assert.equal((await server.cli(["namespace", "add", "audit"])).code, 0);
  const now = await raw.reply(await raw.send(FrameType.Publish, { channel: "audit.x" }, json(1)));
  assert.equal(now.type, FrameType.Ok, JSON.stringify(now.json));
  raw.close();
});

Deno.test("durability - an encrypted store refuses to start with the wrong secret", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-enc-" });
  const first = await startCatbusd(["--encryption-secret", "right"], { data });
  await first.cli(["publish", "vault.x", '"secret text"', "--token", first.adminKey]);
  await first.stop();
  const segment = `${data}/streams/vault/00000000000000000001.seg`;
  assert.ok(!new TextDecoder().decode(await Deno.readFile(segment)).includes("secret text"));
  await assert.rejects(startCatbusd(["--encryption-secret", "wrong"], { data }), /does not match/);
  await using again = await startCatbusd(["--encryption-secret", "right"], { data });
  const dumped = await again.cli(["dump", "--url", again.wsUrl, "--token", again.adminKey]);
  assert.equal(JSON.parse(dumped.stdout).payload, "secret text");
  await again.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("durability - mid-log corruption stops start-up naming the file, offset and repair", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-corrupt-" });
  const first = await startCatbusd([], { data });
  for (let i = 0; i < 5; i++) {
    await first.cli(["publish", "logs.x", String(i), "--token", first.adminKey]);
  }
  await first.stop();
  const segment = `${data}/streams/logs/00000000000000000001.seg`;
  const bytes = await Deno.readFile(segment);
  bytes[30] ^= 0xff;
  await Deno.writeFile(segment, bytes);
  await assert.rejects(
    startCatbusd([], { data }),
    /00000000000000000001\.seg at byte 0.*catbus repair/s,
  );
  await Deno.remove(data, { recursive: true });
});
