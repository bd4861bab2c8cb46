import assert from "node:assert/strict";
import { CatbusClient, type PublishResult } from "../client/mod.ts";
import { FrameType } from "../src/protocol/frame.ts";
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
