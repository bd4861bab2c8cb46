import assert from "node:assert/strict";
import { startCatbusd } from "./helpers/catbusd.ts";

const lines = (text: string) => text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));

Deno.test("storage cli - dump, restore into an empty data directory, restore again adds nothing", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-dump-" });
  const server = await startCatbusd([], { data });
  const admin = ["--token", server.adminKey];
  for (
    const [ch, p] of [["shop.orders", '{"n":1}'], ["shop.orders", '{"n":2}'], [
      "blog.posts",
      '"hello"',
    ]]
  ) {
    const r = await server.cli(["publish", ch, p, ...admin]);
    assert.equal(r.code, 0, r.stderr);
  }
  // Dump through the server, and from the data directory once it is stopped.
  const viaUrl = await server.cli(["dump", "--url", server.wsUrl, ...admin]);
  assert.equal(viaUrl.code, 0, viaUrl.stderr);
  await server.stop();
  const dumpFile = `${data}/dump.ndjson`;
  const viaData = await server.cli(["dump", "--data", data, "-o", dumpFile]);
  assert.equal(viaData.code, 0, viaData.stderr);
  const dumped = lines(await Deno.readTextFile(dumpFile));
  assert.deepEqual(dumped.map((l) => [l.subject, l.seq, l.payload]), [
    ["blog.posts", 1, "hello"],
    ["shop.orders", 1, { n: 1 }],
    ["shop.orders", 2, { n: 2 }],
  ]);
  for (const l of dumped) {
    assert.deepEqual(Object.keys(l), [
      "id",
      "trace_id",
      "key",
      "subject",
      "response_subject",
      "payload",
      "created_at",
      "seq",
    ]);
  }
  assert.deepEqual(lines(viaUrl.stdout).map((l) => l.id).sort(), dumped.map((l) => l.id).sort());

  const target = await Deno.makeTempDir({ prefix: "catbus-restore-" });
  const first = await server.cli(["restore", "-i", dumpFile, "--data", target]);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(JSON.parse(first.stdout), { stored: 3, duplicates: 0 });
  const second = await server.cli(["restore", "-i", dumpFile, "--data", target]);
  assert.deepEqual(JSON.parse(second.stdout), { stored: 0, duplicates: 3 });
  const restored = lines((await server.cli(["dump", "--data", target])).stdout);
  assert.deepEqual(
    restored.map((l) => [l.subject, l.seq, l.payload]),
    dumped.map((l) => [l.subject, l.seq, l.payload]),
  );

  // debug reports counts and exits 0; a flipped byte makes it exit 1 and repair mends it.
  const debug = await server.cli(["debug", "--data", target, "--json"]);
  assert.equal(debug.code, 0, debug.stderr);
  assert.deepEqual(
    JSON.parse(debug.stdout).map((
      n: { namespace: string; messages: number },
    ) => [n.namespace, n.messages]),
    [
      ["blog", 1],
      ["shop", 2],
    ],
  );
  const seg = `${target}/streams/shop/00000000000000000001.seg`;
  const bytes = await Deno.readFile(seg);
  bytes[40] ^= 0xff;
  await Deno.writeFile(seg, bytes);
  const broken = await server.cli(["debug", "--data", target]);
  assert.equal(broken.code, 1);
  assert.match(broken.stdout, /CORRUPT/);
  const repaired = await server.cli(["repair", "--data", target]);
  assert.equal(repaired.code, 0, repaired.stderr);
  assert.equal((await server.cli(["debug", "--data", target])).code, 0);
  await Deno.remove(data, { recursive: true });
  await Deno.remove(target, { recursive: true });
});

Deno.test("storage cli - copy between data directories", async () => {
  const src = await Deno.makeTempDir({ prefix: "catbus-copy-" });
  const server = await startCatbusd([], { data: src });
  await server.cli(["publish", "a.b", "1", "--token", server.adminKey]);
  // A stored message that names a reply channel is data, not a live request: it copies as is.
  const withReply = await server.cli([
    "publish",
    "a.c",
    "2",
    "--header",
    "reply_to=_inbox.x",
    "--token",
    server.adminKey,
  ]);
  assert.equal(withReply.code, 0, withReply.stderr);
  await server.stop();
  const dst = await Deno.makeTempDir({ prefix: "catbus-copy-" });
  const out = await server.cli(["copy", "--from", src, "--to", dst]);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), { stored: 2, duplicates: 0 });
  const copied = lines((await server.cli(["dump", "--data", dst])).stdout);
  assert.deepEqual(copied.map((l) => [l.payload, l.response_subject]), [[1, ""], [2, "_inbox.x"]]);
  await Deno.remove(src, { recursive: true });
  await Deno.remove(dst, { recursive: true });
});
