import assert from "node:assert/strict";
import { join } from "node:path";
import { startCatbusd } from "./helpers/catbusd.ts";
import { json, RawConnection } from "./helpers/raw.ts";
import { FrameType } from "../client/shared/frame.ts";

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

async function connect(server: { tcpPort: number; adminKey: string }) {
  const raw = await RawConnection.connect(server.tcpPort);
  await raw.hello(server.adminKey);
  return raw;
}

/** Publishes `count` acknowledged messages; returns their positions. */
async function publish(raw: RawConnection, channel: string, count: number) {
  const positions: { epoch: string; seq: number }[] = [];
  for (let i = 0; i < count; i++) {
    const ok = await raw.reply(await raw.send(FrameType.Publish, { channel }, json(i)));
    assert.equal(ok.type, FrameType.Ok, JSON.stringify(ok.json));
    positions.push({ epoch: ok.json.epoch as string, seq: ok.json.seq as number });
  }
  return positions;
}

async function resume(raw: RawConnection, namespace: string, position: unknown) {
  const r = await raw.reply(
    await raw.send(FrameType.Subscribe, {
      pattern: `${namespace}.>`,
      resume: { [namespace]: position },
    }),
  );
  assert.equal(r.type, FrameType.Ok, JSON.stringify(r.json));
  const ns = (r.json.namespaces as Record<string, { recovered: boolean; replayed: number }>)[
    namespace
  ];
  await raw.reply(await raw.send(FrameType.Unsubscribe, { pattern: `${namespace}.>` }));
  return ns;
}

Deno.test("ephemeral - a namespace declared ephemeral in YAML keeps positions and a bounded history, stores nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catbus-ephemeral-" });
  const config = join(dir, "catbus.yaml");
  await Deno.writeTextFile(config, "namespaces:\n  ticks: { ephemeral: true }\n  orders:\n");
  const data = join(dir, "data");
  const args = ["--config", config, "--history-messages", "5"];
  const first = await startCatbusd(args, { data });
  const raw = await connect(first);
  const positions = await publish(raw, "ticks.a", 12);
  assert.deepEqual(positions.map((p) => p.seq), Array.from({ length: 12 }, (_, i) => i + 1));
  await publish(raw, "orders.a", 1);
  assert.equal(await exists(join(data, "streams", "ticks")), false);
  assert.equal(await exists(join(data, "streams", "orders")), true);
  // Within the history: replayed; beyond it: recovered:false, never part of the gap.
  assert.deepEqual(await resume(raw, "ticks", positions[7]), {
    ...positions[11],
    recovered: true,
    replayed: 4,
  });
  assert.equal((await resume(raw, "ticks", positions[2])).recovered, false);
  // Still declared namespaces: others are refused.
  const refused = await raw.reply(await raw.send(FrameType.Publish, { channel: "x.a" }, json(1)));
  assert.equal(refused.json.code, "bad_request");
  raw.close();
  await first.stop();

  // After a restart nothing of it is left: a new epoch, and resume says so.
  await using second = await startCatbusd(args, { data });
  const again = await connect(second);
  const [next] = await publish(again, "ticks.a", 1);
  assert.notEqual(next.epoch, positions[0].epoch);
  assert.equal(next.seq, 1);
  assert.equal((await resume(again, "ticks", positions[11])).recovered, false);
  again.close();
  await second.stop();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("ephemeral - catbus namespace add --ephemeral takes effect without a restart and never hides stored messages", async () => {
  await using server = await startCatbusd();
  const added = await server.cli(["namespace", "add", "live", "--ephemeral"]);
  assert.equal(added.code, 0, added.stderr);
  const raw = await connect(server);
  await publish(raw, "live.a", 3);
  await publish(raw, "kept.a", 1);
  assert.equal(await exists(join(server.data, "streams", "live")), false);
  assert.equal(await exists(join(server.data, "streams", "kept")), true);
  const refused = await server.cli(["namespace", "add", "kept", "--ephemeral"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /already has stored messages/);
  const list = await server.cli(["namespace", "list"]);
  assert.equal(list.stdout.trim(), "live ephemeral");
  raw.close();
});
