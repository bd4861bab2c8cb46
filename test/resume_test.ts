import assert from "node:assert/strict";
import { CatbusClient } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { json, RawConnection } from "./helpers/raw.ts";
import { FrameType } from "../client/shared/frame.ts";
import { within } from "./helpers/deadline.ts";
import { startCuttableProxy } from "./helpers/proxy.ts";

Deno.test("resume - a client that loses its connection resumes without loss while history holds", async () => {
  await using server = await startCatbusd();
  const publisher = new CatbusClient({
    url: server.wsUrl,
    token: server.adminKey,
  });
  await publisher.connect();
  await publisher.publish("feed.x", 0);

  // The subscriber goes through a TCP proxy we can cut, so the server sees a real disconnect.
  const proxy = startCuttableProxy(server.tcpPort);
  const seen: number[] = [];
  const recovery = Promise.withResolvers<boolean>();
  let wake = () => {};
  const sub = new CatbusClient({
    url: `tcp://127.0.0.1:${proxy.port}`,
    token: server.adminKey,
    transport: tcpTransport(),
    reconnectDelay: 10,
    maxReconnectDelay: 50,
  });
  await sub.connect();
  await sub.subscribe("feed.>", (_c, payload) => {
    seen.push(payload as number);
    wake();
  }, { onRecovery: (info) => recovery.resolve(info.recovered) });
  const until = (cond: () => boolean) =>
    within(
      (async () => {
        while (!cond()) await new Promise<void>((r) => wake = r);
      })(),
      15_000,
      "the messages",
    );
  await publisher.publish("feed.x", 1);
  await until(() => seen.length === 1);

  proxy.cut(); // drop every live connection; new ones are accepted again
  for (let i = 2; i <= 20; i++) await publisher.publish("feed.x", i);
  await until(() => seen.length === 20);
  assert.deepEqual(
    seen,
    Array.from({ length: 20 }, (_, i) => i + 1),
    "no loss, no duplicates, in order",
  );
  assert.equal(await within(recovery.promise, 10_000, "the recovery report"), true);
  await sub.disconnect();
  await publisher.disconnect();
  proxy.close();
});

Deno.test("resume - recovered:false when the gap left the history", async () => {
  await using server = await startCatbusd([
    "--history-messages",
    "5",
    "--segment-bytes",
    "200",
    "--retention-max-messages",
    "5",
  ]);
  const raw = await RawConnection.connect(server.tcpPort);
  await raw.hello(server.adminKey);
  let last = { epoch: "", seq: 0 };
  for (let i = 0; i < 12; i++) {
    const ok = await raw.reply(
      await raw.send(FrameType.Publish, { channel: "feed.x" }, json(i)),
    );
    if (i === 2) {
      last = { epoch: ok.json.epoch as string, seq: ok.json.seq as number };
    }
  }
  const raw2 = await RawConnection.connect(server.tcpPort);
  await raw2.hello(server.adminKey);
  const r = await raw2.reply(
    await raw2.send(FrameType.Subscribe, {
      pattern: "feed.>",
      resume: { feed: last },
    }),
  );
  assert.equal(r.json.recovered, false);
  const inHistory = { epoch: last.epoch, seq: 8 };
  const r2 = await raw2.reply(
    await raw2.send(FrameType.Subscribe, {
      pattern: "feed.>",
      resume: { feed: inHistory },
    }),
  );
  assert.equal(r2.json.recovered, true);
  assert.equal(
    (r2.json.namespaces as Record<string, { replayed: number }>).feed.replayed,
    4,
  );
  raw.close();
  raw2.close();
});
