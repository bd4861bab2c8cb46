import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startCatbusd } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";

const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

Deno.test("cli - grant prints the token alone on its first line, then client id and grants", async () => {
  await using server = await startCatbusd();
  const out = await server.cli([
    "grant",
    "-p",
    "read",
    "-p",
    "write",
    "project.>",
    "events.*",
    "--client-id",
    "alice",
  ]);
  assert.equal(out.code, 0, out.stderr);
  const lines = out.stdout.trim().split("\n");
  assert.match(lines[0], /^sub-[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.equal(lines[1], "Client ID: alice");
  assert.deepEqual(lines.slice(2), [
    "Grants:",
    "  read:project.>",
    "  read:events.*",
    "  write:project.>",
    "  write:events.*",
  ]);
  const bad = await server.cli(["grant", "-p", "fly", "x.>"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown permission "fly"/);
  const usage = await server.cli(["grant", "x.>"]);
  assert.equal(usage.code, 2);
});

Deno.test("cli - role create, show, list, delete", async () => {
  await using server = await startCatbusd();
  const created = await server.cli(["role", "create", "--name", "Editor"]);
  const token = created.stdout.split("\n")[0];
  assert.match(token, /^role-/);
  await server.cli(["grant", "-p", "read", "docs.>", "--to", token]);
  const shown = await server.cli(["role", "show", token, "--json"]);
  const role = JSON.parse(shown.stdout);
  assert.equal(role.name, "Editor");
  assert.deepEqual(role.grants, [{ permission: "read", pattern: "docs.>" }]);
  assert.ok(
    !shown.stdout.includes(token),
    "the token itself is never stored or shown again",
  );
  const listed = await server.cli(["role", "list"]);
  assert.equal(listed.stdout.trim(), `${role.id}\tEditor\tread:docs.>`);
  assert.equal((await server.cli(["role", "delete", role.id])).code, 0);
  const gone = await server.cli(["role", "show", token]);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /not found/);
});

Deno.test("cli - subscribe in one process, publish in another, with a granted token", async () => {
  await using server = await startCatbusd();
  const token = (await server.cli(["grant", "-p", "all", "project.>"])).stdout.split(
    "\n",
  )[0];
  const subscriber = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLI,
      "subscribe",
      "project.>",
      "--count",
      "2",
      "--url",
      server.wsUrl,
      "--token",
      token,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Wait until it says it is subscribed.
  const status = subscriber.stderr.pipeThrough(new TextDecoderStream())
    .getReader();
  let said = "";
  while (!said.includes("subscribed to")) {
    const { value, done } = await within(status.read(), 15_000, "the subscriber's status");
    if (done) throw new Error(`the subscriber exited before it subscribed: ${said}`);
    said += value;
  }
  const printed = new Response(subscriber.stdout).text();

  const pub1 = await server.cli([
    "publish",
    "project.123.updates",
    '{"action":"save"}',
    "--token",
    token,
  ]);
  assert.equal(pub1.code, 0, pub1.stderr);
  const ack = JSON.parse(pub1.stdout);
  assert.equal(ack.channel, "project.123.updates");
  assert.equal(ack.seq, 1);
  const pub2 = await server.cli([
    "publish",
    "project.9",
    '"plain"',
    "--url",
    server.tcpUrl,
    "--token",
    token,
  ]);
  assert.equal(pub2.code, 0, pub2.stderr);

  const { code } = await subscriber.status;
  await status.cancel();
  assert.equal(code, 0);
  const lines = (await printed).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => [l.channel, l.seq, l.payload]), [
    ["project.123.updates", 1, { action: "save" }],
    ["project.9", 2, "plain"],
  ]);
  for (const l of lines) {
    assert.deepEqual(Object.keys(l), [
      "channel",
      "seq",
      "epoch",
      "id",
      "time",
      "payload",
    ]);
  }
});

Deno.test("cli - publish outside grants and to a dead server fail with a one-line reason", async () => {
  await using server = await startCatbusd();
  const token = (await server.cli(["grant", "-p", "write", "project.>"])).stdout.split(
    "\n",
  )[0];
  const denied = await server.cli([
    "publish",
    "other.x",
    "1",
    "--token",
    token,
  ]);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /^catbus publish: forbidden: .+\n$/);
  const notJson = await server.cli([
    "publish",
    "project.x",
    "{oops",
    "--token",
    token,
  ]);
  assert.equal(notJson.code, 2);
  const dead = await server.cli([
    "publish",
    "project.x",
    "1",
    "--token",
    token,
    "--url",
    "ws://127.0.0.1:9",
  ]);
  assert.equal(dead.code, 1);
  assert.equal(dead.stderr.trim().split("\n").length, 1, dead.stderr);
  const status = await server.cli(["status"]);
  assert.equal(status.code, 0, status.stdout);
  assert.match(status.stdout, /server: ok/);
  const down = await server.cli(["status", "--url", "ws://127.0.0.1:9"]);
  assert.equal(down.code, 1);
});

Deno.test("cli - text format prints [channel] payload", async () => {
  await using server = await startCatbusd();
  await server.cli([
    "publish",
    "news.today",
    '{"t":1}',
    "--token",
    server.adminKey,
  ]);
  const out = await server.cli([
    "subscribe",
    "news.>",
    "--from",
    "first",
    "--count",
    "1",
    "--format",
    "text",
    "--token",
    server.adminKey,
  ]);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, '[news.today] {"t":1}\n');
});
