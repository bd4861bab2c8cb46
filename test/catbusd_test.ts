import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { encodeFrame, FrameDecoder, FrameType, parseMeta } from "../client/shared/frame.ts";
import { makeCA, makeLeaf } from "./helpers/certs.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { settingNames } from "../src/core/settings-resolve.ts";
import { SETTING_GROUPS } from "../src/server/config.ts";

const MAIN = fileURLToPath(new URL("../src/server/main.ts", import.meta.url));

Deno.test("catbusd - /health, /ready and unknown routes answer JSON", async () => {
  await using server = await startCatbusd();
  const health = await fetch(`${server.httpUrl}/health`);
  assert.deepEqual([health.status, await health.json()], [200, {
    status: "ok",
  }]);
  const ready = await fetch(`${server.httpUrl}/ready`);
  assert.deepEqual([ready.status, await ready.json()], [200, {
    status: "ready",
  }]);
  const missing = await fetch(`${server.httpUrl}/nope`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).code, "not_found");
  const notUpgrade = await fetch(`${server.httpUrl}/ws`);
  assert.equal(notUpgrade.status, 426);
  await notUpgrade.body?.cancel();
});

Deno.test("catbusd - a bad setting stops start-up naming the setting", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--max-payload", "huge"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /--max-payload: expected a size/,
  );
});

Deno.test("catbusd - a listener that cannot bind names the variable that set its address", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${taken.addr.port}`;
  const data = await Deno.makeTempDir({ prefix: "catbus-test-" });
  try {
    for (const [variable, name] of [["BUS_ADDR", "bus"], ["RSTMDB_BIND", "rcp"]]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--unstable-net",
          MAIN,
          ...["--bind", "127.0.0.1:0", "--tcp-bind", "127.0.0.1:0", "--no-webtransport"],
          ...["--data", data],
        ],
        env: { [variable]: address },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 2, `${name}: ${stderr}`);
      assert.ok(
        stderr.includes(`cannot listen on ${address} (${variable})`),
        `${name}: the error names ${variable}: ${stderr}`,
      );
    }
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("catbusd - --help lists every setting of every table, with all its names", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0);
  const help = new TextDecoder().decode(out.stdout);
  const lines = help.split("\n");
  for (const group of SETTING_GROUPS) {
    assert.ok(help.includes(`${group.title}:\n`), `--help has no section ${group.title}`);
    for (const setting of Object.values(group.settings)) {
      const { env, yaml } = settingNames(setting);
      const line = lines.findIndex((l) =>
        l.trimStart().replace(/^-\w, /, "").startsWith(`--${setting.flag} `)
      );
      assert.ok(line >= 0, `--help does not list --${setting.flag}`);
      const names = lines[line + 1];
      for (const name of [...env, ...yaml]) {
        assert.ok(names.includes(name), `--help does not name ${name} for --${setting.flag}`);
      }
      if (setting.short) assert.ok(help.includes(`-${setting.short}, --${setting.flag}`));
    }
  }
});

Deno.test("catbusd - -d runs in the background and writes the pid file", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-daemon-" });
  const pidfile = `${data}/catbusd.pid`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "-d",
      "--pidfile",
      pidfile,
      "--data",
      data,
      "--bind",
      "127.0.0.1:0",
      "--tcp-bind",
      "127.0.0.1:0",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const pid = Number((await Deno.readTextFile(pidfile)).trim());
  assert.ok(pid > 0);
  // The parent returns once the background server listens, so its log line is already there.
  const log = await Deno.readTextFile(`${data}/catbusd.log`);
  const url = /http=(\S+)/.exec(log)![1];
  assert.equal((await fetch(`${url}/health`)).status, 200);
  Deno.kill(pid, "SIGTERM");
  // On SIGTERM it removes its pid file: wait for that event.
  const watcher = Deno.watchFs(data);
  if (await Deno.stat(pidfile).then(() => true, () => false)) {
    for await (const e of watcher) {
      if (e.kind === "remove" && e.paths.includes(pidfile)) break;
    }
  }
  watcher.close();
  await Deno.remove(data, { recursive: true });
});

Deno.test("catbusd - TLS on both listeners with --cert/--key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catbus-tls-" });
  await makeCA(dir);
  await makeLeaf(dir, "localhost", "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n");
  await using server = await startCatbusd([
    "--cert",
    `${dir}/localhost.pem`,
    "--key",
    `${dir}/localhost.key`,
  ]);
  const caCerts = [await Deno.readTextFile(`${dir}/ca.pem`)];
  assert.match(server.httpUrl, /^https:/);
  const client = Deno.createHttpClient({ caCerts });
  const res = await fetch(
    server.httpUrl.replace("127.0.0.1", "localhost") + "/health",
    { client } as RequestInit,
  );
  assert.equal(res.status, 200);
  await res.body?.cancel();
  client.close();
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port: server.tcpPort,
    caCerts,
  });
  await conn.write(
    encodeFrame(FrameType.Hello, 1, { version: 1, token: server.adminKey }),
  );
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
  let type = 0;
  for await (const chunk of conn.readable) {
    decoder.push(chunk, (e) => {
      if (e.kind === "frame") {
        type = e.frame.type;
        assert.equal(parseMeta(e.frame).version, 1);
      }
    });
    if (type) break;
  }
  assert.equal(type, FrameType.Welcome);
  await Deno.remove(dir, { recursive: true });
});
