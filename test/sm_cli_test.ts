import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ORDER, startSm } from "./sm_helpers.ts";

const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

Deno.test("sm cli - rstmdb-cli's verbs; watch-all prints one JSON line per event", async () => {
  await using server = await startSm();
  const addr = `127.0.0.1:${server.rcpPort}`;
  const sm = async (...args: string[]) => {
    const out = await server.cli(["sm", ...args, "-s", addr]);
    return {
      ...out,
      json: out.code === 0 && out.stdout.trim() ? JSON.parse(out.stdout) : undefined,
    };
  };
  assert.deepEqual((await sm("ping")).json, { pong: true });
  assert.equal(
    (await sm("put-machine", "-n", "order", "-v", "1", JSON.stringify(ORDER))).json.created,
    true,
  );
  assert.equal(
    (await sm("get-machine", "-n", "order", "-v", "1")).json.definition.initial,
    "created",
  );

  await sm("create-instance", "-m", "order", "-V", "1", "-i", "w1", "-c", '{"amount":1}');
  // --from-offset replays what is already there: no race with the watcher's start.
  const watcher = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLI,
      "sm",
      "watch-all",
      "--machines",
      "order",
      "--no-ctx",
      "--from-offset",
      "1",
      "-s",
      addr,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = watcher.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) text += (await lines.read()).value ?? "";
  const event = JSON.parse(text.split("\n")[0]);
  assert.deepEqual([event.type, event.instance_id, event.event], ["event", "w1", "$created"]);
  assert.equal("ctx" in event, false);
  watcher.kill("SIGINT");
  await watcher.status;
  await lines.cancel();

  assert.equal(
    (await sm("create-instance", "-m", "order", "-V", "1", "-i", "o1", "-c", '{"amount":5}')).json
      .state,
    "created",
  );
  const applied = await sm("apply-event", "-i", "o1", "-e", "PAY", "-p", '{"ready":true}');
  assert.equal(applied.json.to_state, "paid");
  assert.deepEqual((await sm("get-instance", "o1")).json.ctx, { amount: 5, ready: true });
  assert.ok((await sm("list-instances", "--machine", "order")).json.total >= 2);
  assert.equal((await sm("wal-read", "--from", "1", "--limit", "1")).json.records.length, 1);
  assert.ok((await sm("wal-stats")).json.latest_offset >= 3);
  assert.equal((await sm("compact", "--force")).json.snapshots_created, 1);
  assert.equal((await sm("delete-instance", "o1")).json.deleted, true);
  const failed = await sm("get-instance", "o1");
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /INSTANCE_NOT_FOUND/);
  assert.equal((await sm("put-machine", "-n", "x", "-v", "1", "not json")).code, 2);
  const hashed = await server.cli(["sm", "hash-token", "my-secret-token"]);
  assert.match(hashed.stdout.trim(), /^[0-9a-f]{64}$/);
});
