import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { json, RawConnection } from "./helpers/raw.ts";

const SMALL_SEGMENTS = ["--segment-bytes", "1KiB"];
const segment = (data: string, base: number) =>
  `${data}/streams/logs/${String(base).padStart(20, "0")}.seg`;

/** A stopped server's data directory holding `n` acknowledged messages in `logs`. */
async function storedLog(n: number): Promise<{ data: string; epoch: string; bases: number[] }> {
  const data = await Deno.makeTempDir({ prefix: "catbus-loss-" });
  const server = await startCatbusd(SMALL_SEGMENTS, { data });
  const c = await RawConnection.connect(server.tcpPort);
  await c.hello(server.adminKey);
  let epoch = "";
  for (let i = 1; i <= n; i++) {
    const payload = json({ i, pad: "x".repeat(100) });
    const ok = await c.reply(await c.send(FrameType.Publish, { channel: "logs.x" }, payload));
    assert.equal(ok.type, FrameType.Ok, JSON.stringify(ok.json));
    epoch = ok.json.epoch as string;
  }
  c.close();
  await server.stop();
  const bases: number[] = [];
  for await (const e of Deno.readDir(`${data}/streams/logs`)) {
    if (e.name.endsWith(".seg")) bases.push(Number(e.name.slice(0, -4)));
  }
  return { data, epoch, bases: bases.sort((a, b) => a - b) };
}

async function subscribe(server: TestServer, meta: Record<string, unknown>) {
  const c = await RawConnection.connect(server.tcpPort);
  await c.hello(server.adminKey);
  const answer = await c.reply(await c.send(FrameType.Subscribe, { pattern: "logs.>", ...meta }));
  c.close();
  return answer;
}

Deno.test("silent loss - a flipped byte in a sealed segment fails the replay; the log names file and offset", async () => {
  const { data, bases } = await storedLog(30);
  assert.ok(bases.length >= 3, "several segments");
  const path = segment(data, bases[0]);
  const bytes = await Deno.readFile(path);
  bytes[30] ^= 0xff; // inside the first record's body; the segment's size is unchanged
  await Deno.writeFile(path, bytes);
  // Start-up reads only the newest messages (memory, dedupe keys; no retention by age) and so
  // does not meet the damage: the replay does.
  const args = [
    ...SMALL_SEGMENTS,
    ...["--history-messages", "5", "--dedupe-window", "1ms", "--retention-max-age", "0"],
  ];
  await using server = await startCatbusd(args, { data });
  const answer = await subscribe(server, { from: "first" });
  assert.equal(answer.type, FrameType.Error, `not recovered: ${JSON.stringify(answer.json)}`);
  // The client learns that stored messages are damaged; the server's paths stay in its log.
  assert.match(String(answer.json.message), /damaged/);
  assert.doesNotMatch(String(answer.json.message), /\.seg/);
  await server.waitForLog(/00000000000000000001\.seg at byte 0/);
  const debug = await server.cli(["debug", "--data", data]);
  assert.equal(debug.code, 1);
  assert.match(debug.stdout, /CORRUPT .*00000000000000000001\.seg at byte 0/);
  await server.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("silent loss - a deleted sealed segment stops start-up; repair accepts the loss under a new epoch", async () => {
  const { data, epoch, bases } = await storedLog(30);
  const gone = segment(data, bases[1]);
  await Deno.remove(gone);
  await Deno.remove(`${gone}.idx`).catch(() => {});
  const missing = new RegExp(`records ${bases[1]}–${bases[2] - 1}`);
  await assert.rejects(startCatbusd(SMALL_SEGMENTS, { data }), missing);
  const probe = await startCatbusd(SMALL_SEGMENTS, { data }).catch((e) => String(e));
  assert.match(probe as string, /catbus repair/);
  const cli = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../src/cli/main.ts", import.meta.url).pathname, ...args],
    }).output().then((o) => ({ code: o.code, stdout: new TextDecoder().decode(o.stdout) }));
  const debug = await cli(["debug", "--data", data]);
  assert.equal(debug.code, 1);
  assert.match(debug.stdout, new RegExp(`MISSING ${missing.source}`));
  assert.equal((await cli(["repair", "--data", data])).code, 0);
  assert.equal((await cli(["debug", "--data", data])).code, 0);
  await using server = await startCatbusd(SMALL_SEGMENTS, { data });
  const resumed = await subscribe(server, { resume: { logs: { epoch, seq: 1 } } });
  assert.equal(resumed.json.recovered, false, JSON.stringify(resumed.json));
  const ns = (resumed.json.namespaces as Record<string, { epoch: string; seq: number }>).logs;
  assert.notEqual(ns.epoch, epoch);
  assert.equal(ns.seq, 30);
  await server.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("silent loss - a newest segment cut to 0 bytes gives a new epoch: resume says recovered false", async () => {
  const { data, epoch, bases } = await storedLog(5);
  assert.equal(bases.length, 1);
  await Deno.truncate(segment(data, bases[0]), 0);
  await using server = await startCatbusd(SMALL_SEGMENTS, { data });
  const resumed = await subscribe(server, { resume: { logs: { epoch, seq: 5 } } });
  assert.equal(resumed.json.recovered, false, JSON.stringify(resumed.json));
  const c = await RawConnection.connect(server.tcpPort);
  await c.hello(server.adminKey);
  const ok = await c.reply(await c.send(FrameType.Publish, { channel: "logs.x" }, json("new")));
  // Sequence 1 again, but never under the epoch whose 1 was another message.
  assert.notEqual(ok.json.epoch, epoch);
  c.close();
  // Once dealt with, the loss is not reported again: the next start keeps the new epoch.
  await server.stop();
  await using again = await startCatbusd(SMALL_SEGMENTS, { data });
  const kept = await subscribe(again, {
    resume: { logs: { epoch: ok.json.epoch, seq: ok.json.seq } },
  });
  assert.equal(kept.json.recovered, true, JSON.stringify(kept.json));
  await again.stop();
  await Deno.remove(data, { recursive: true });
});
