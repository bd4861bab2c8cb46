import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ORDER, startSm } from "./sm_helpers.ts";
import { within } from "./helpers/deadline.ts";

/** Numbers replaced by N, to compare texts whose offsets vary. */
const numbersOut = (text: string) => text.replace(/\d+/g, "N");

const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

Deno.test("sm cli - rstmdb-cli's verbs and output; --json prints raw results; watch-all prints one JSON line per event", async () => {
  await using server = await startSm();
  const addr = `127.0.0.1:${server.rcpPort}`;
  const sm = (...args: string[]) => server.cli(["sm", ...args, "-s", addr]);
  const json = async (...args: string[]) => {
    const out = await sm(...args, "--json");
    assert.equal(out.code, 0, out.stderr);
    return JSON.parse(out.stdout);
  };
  assert.equal((await sm("ping")).stdout, "PONG\n");
  assert.deepEqual(await json("ping"), { pong: true });
  assert.equal((await json("info")).max_batch_ops, 100);
  assert.match((await sm("info")).stdout, /"server_name": "catbus"/);
  assert.equal((await sm("list-machines")).stdout, "No machines registered\n");
  assert.match(
    (await sm("put-machine", "-n", "order", "-v", "1", JSON.stringify(ORDER))).stdout,
    /^Created machine order v1 \(checksum: [0-9a-f]{64}\)\n$/,
  );
  assert.match(
    (await sm("put-machine", "-n", "order", "-v", "1", JSON.stringify(ORDER))).stdout,
    /^Already exists machine order v1/,
  );
  assert.equal(
    (await sm("list-machines")).stdout,
    "  order v1 (4 states, 3 transitions)\n",
  );
  assert.equal((await json("get-machine", "-n", "order", "-v", "1")).definition.initial, "created");
  assert.match((await sm("get-machine", "-n", "order", "-v", "1")).stdout, /^Machine order v1\n\{/);

  await sm("create-instance", "-m", "order", "-V", "1", "--id", "w1", "-c", '{"amount":1}');
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
    stderr: "piped",
  }).spawn();
  const lines = watcher.stdout.pipeThrough(new TextDecoderStream()).getReader();
  await sm("apply-event", "-i", "w1", "-e", "CANCEL");
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await within(lines.read(), 15_000, "the watcher's first event");
    if (done) throw new Error(`the watcher exited before printing an event: ${text}`);
    text += value;
  }
  const event = JSON.parse(text.split("\n")[0]);
  assert.deepEqual([event.type, event.instance_id, event.event], ["event", "w1", "CANCEL"]);
  assert.equal("ctx" in event, false);
  watcher.kill("SIGINT");
  await watcher.status;
  await lines.cancel();
  assert.match(
    await new Response(watcher.stderr).text(),
    /^Watching all events \(sub_id: sub-\S+, wal_offset: \d+\)\nPress Ctrl\+C to stop\.\.\.\n/,
  );

  const created = await sm(
    "create-instance",
    "-m",
    "order",
    "-V",
    "1",
    "-i",
    "o1",
    "-c",
    '{"amount":5}',
  );
  assert.equal(
    numbersOut(created.stdout),
    "Created instance oN\n  Machine: order vN\n  State: created\n  WAL offset: N\n",
  );
  const applied = await sm("apply-event", "-i", "o1", "-e", "PAY", "-p", '{"ready":true}');
  assert.equal(
    numbersOut(applied.stdout),
    "Applied event PAY on oN\n  created → paid\n  WAL offset: N\n",
  );
  assert.deepEqual((await json("get-instance", "o1")).ctx, { amount: 5, ready: true });
  assert.ok(
    (await sm("get-instance", "o1")).stdout.startsWith(
      'Instance o1\n  Machine: order v1\n  State: paid\n  Context: {\n  "amount": 5,',
    ),
  );
  assert.ok((await json("list-instances", "--machine", "order")).total >= 2);
  assert.equal(
    (await sm("wal-read", "-f", "1", "-l", "2")).stdout,
    "[     1]            1 | put_machine\n[     2]            2 | create_instance\n" +
      "         Instance: w1, Machine: order v1\n\nNext offset: 3\n",
  );
  assert.equal((await json("wal-read", "--from", "1", "--limit", "1")).records.length, 1);
  assert.ok((await json("wal-stats")).latest_offset >= 3);
  assert.match(
    numbersOut((await sm("compact", "-f")).stdout),
    /^Compaction complete\n {2}Snapshots created: N\n {2}WAL segments deleted: N\n {2}Bytes reclaimed: N(\.N)? [KMG]?B\n/,
  );
  assert.equal((await sm("delete-instance", "o1")).stdout, "Deleted instance o1\n");
  assert.match((await sm("get-instance", "o1")).stdout, /State: paid \(deleted\)/);
  const failed = await sm("get-instance", "nope");
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /INSTANCE_NOT_FOUND/);
  assert.equal((await sm("put-machine", "-n", "x", "-v", "1", "not json")).code, 2);
  const hashed = await server.cli(["sm", "hash-token", "my-secret-token"]);
  assert.match(hashed.stdout.trim(), /^[0-9a-f]{64}$/);
  assert.match((await server.cli(["sm", "--version"])).stdout, /^catbus sm \d+\.\d+\.\d+\n$/);
});

Deno.test("sm cli - repl runs one verb per line on one connection", async () => {
  await using server = await startSm();
  const repl = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "sm", "repl", "-s", `127.0.0.1:${server.rcpPort}`],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = repl.stdin.getWriter();
  await writer.write(new TextEncoder().encode(
    [
      "ping",
      `put-machine -n order -v 1 '${JSON.stringify(ORDER)}'`,
      "get-instance nope",
      "list-machines",
      "quit",
      "ping",
    ].join("\n") + "\n",
  ));
  await writer.close();
  const out = await repl.output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0);
  assert.equal(
    stdout.replace(/[0-9a-f]{64}/, "HASH"),
    "PONG\nCreated machine order v1 (checksum: HASH)\n  order v1 (4 states, 3 transitions)\n",
  );
  assert.match(new TextDecoder().decode(out.stderr), /Error: INSTANCE_NOT_FOUND/);
});
