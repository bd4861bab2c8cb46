import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startCatbusd } from "./helpers/catbusd.ts";
import { nativeClient } from "./helpers/native.ts";
import { openSse } from "./helpers/sse.ts";
import { ADMIN, login, openWs, startPulsar } from "./helpers/pulsar.ts";

const run = async (main: string, args: string[]) => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fileURLToPath(new URL(main, import.meta.url)), ...args],
    stdin: "null",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
};

Deno.test("logs - --log-format json: one object per line, start-up settings with secrets redacted, connection and shutdown lines", async () => {
  const server = await startCatbusd([
    "--log-format",
    "json",
    "--log-level",
    "debug",
    "--secret",
    "signing-secret-value",
  ]);
  const client = await nativeClient(server);
  await client.disconnect();
  await server.waitForLog(/"connection closed"/);
  await server.stop();
  const log = await server.waitForLog(/"catbusd stopped"/);
  const lines = log.trim().split("\n").map((line) => JSON.parse(line));
  for (const line of lines) {
    assert.match(line.time, /^\d{4}-\d\d-\d\dT/);
    assert.ok(["debug", "info", "warn", "error"].includes(line.level), line.level);
    assert.equal(typeof line.msg, "string");
  }
  const starting = lines.find((l) => l.msg === "catbusd starting");
  assert.equal(starting.version, "0.1.0");
  assert.equal(starting.settings["log-format"], "json");
  assert.equal(starting.settings.bind, "127.0.0.1:0");
  assert.equal(starting.settings["admin-key"], "[redacted]");
  assert.equal(starting.settings.secret, "[redacted]");
  assert.ok(!log.includes(server.adminKey) && !log.includes("signing-secret-value"), log);
  for (const msg of ["connection authenticated", "connection closed"]) {
    const line = lines.find((l) => l.msg === msg);
    assert.equal(line?.door, "native", msg);
    assert.match(line.remote, /^tcp:127\.0\.0\.1:\d+$/);
    assert.match(line.client_id, /^admin-/);
  }
  const stopped = lines[lines.length - 1];
  assert.equal(stopped.msg, "catbusd stopped");
  assert.equal(stopped.reason, "SIGTERM");
});

Deno.test("logs - every door's connection lines carry door, remote and client id (Bus stream, Pulsar WebSocket)", async () => {
  await using server = await startPulsar(["--log-format", "json", "--log-level", "debug"]);
  const token = (await login(server, ADMIN.username, ADMIN.password)).access_token;
  const stream = await openSse(`${server.busUrl}/?subject=logged.x`);
  assert.equal(stream.response.status, 200);
  await stream.close();
  const socket = await openWs(server, `?token=${token}`);
  socket.send({ type: "subscribe", topics: ["logged"] });
  await socket.next("subscribed");
  socket.close();
  await socket.closed;
  const lineOf = async (door: string, msg: string) => {
    const log = await server.waitForLog(
      new RegExp(`"msg":"${msg}".*"door":"${door}"|"door":"${door}".*"msg":"${msg}"`),
    );
    return log.trim().split("\n").map((l) => JSON.parse(l))
      .find((l) => l.msg === msg && l.door === door);
  };
  for (const msg of ["connection authenticated", "connection closed"]) {
    const bus = await lineOf("bus", msg);
    assert.match(bus.remote, /^http:127\.0\.0\.1:\d+$/, msg);
    assert.equal(typeof bus.client_id, "string", msg);
    const pulsar = await lineOf("pulsar", msg);
    assert.match(pulsar.remote, /^ws:127\.0\.0\.1:\d+$/, msg);
    assert.match(pulsar.client_id, /^pulsar-admin-/, msg);
  }
});

Deno.test("logs - the text format carries the same start-up line", async () => {
  await using server = await startCatbusd(["--max-payload", "2MiB"]);
  const line = server.log().split("\n").find((l) => l.includes(" catbusd starting "))!;
  assert.match(line, /version=0\.1\.0 pid=\d+ settings=\{/);
  assert.match(line, /"max-payload":"2MiB"/);
  assert.match(line, /"admin-key":"\[redacted\]"/);
});

Deno.test("cli - --version on catbusd and catbus; catbusd --help shows each setting's default", async () => {
  const pkg = JSON.parse(await Deno.readTextFile(new URL("../package.json", import.meta.url)));
  assert.deepEqual(await run("../src/server/main.ts", ["--version"]), {
    code: 0,
    stdout: `catbusd ${pkg.version}\n`,
  });
  assert.deepEqual(await run("../src/cli/main.ts", ["--version"]), {
    code: 0,
    stdout: `catbus ${pkg.version}\n`,
  });
  const help = await run("../src/server/main.ts", ["--help"]);
  assert.equal(help.code, 0);
  for (
    const shown of [
      /--bind +HTTP \+ WebSocket address \(default 0\.0\.0\.0:4433\)/,
      /--max-payload +largest message payload \(default 1MiB\)/,
      /--heartbeat +.*\(default 15s\)/,
      /--log-format +.*\(default text\)/,
      /--metrics-max-namespaces +.*\(default 100\)/,
    ]
  ) assert.match(help.stdout, shown);
});
