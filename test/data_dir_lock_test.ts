import assert from "node:assert/strict";
import { startCatbusd } from "./helpers/catbusd.ts";

Deno.test("data dir lock - a second server and the offline commands refuse a live directory, naming the pid", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-lock-" });
  const server = await startCatbusd([], { data });
  assert.equal((await server.cli(["publish", "a.b", "1", "--token", server.adminKey])).code, 0);
  const holder = new RegExp(`in use by pid ${server.pid} \\(catbusd\\)`);
  await assert.rejects(startCatbusd([], { data }), holder);
  const dump = `${data}/dump.ndjson`;
  await Deno.writeTextFile(
    dump,
    (await server.cli(["dump", "--url", server.wsUrl, "--token", server.adminKey])).stdout,
  );
  const other = await Deno.makeTempDir({ prefix: "catbus-lock-" });
  const commands = [
    ["restore", "-i", dump, "--data", data],
    ["copy", "--from", other, "--to", data],
    ["copy", "--from", data, "--to", other],
    ["compact", "--data", data],
    ["repair", "--data", data],
    ["dump", "--data", data],
  ];
  for (const args of commands) {
    const r = await server.cli(args, { CATBUS_ADMIN_KEY: server.adminKey });
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, holder, args.join(" "));
  }
  // Once the server is gone (the lock goes with its process), the directory is free.
  await server.crash();
  const compact = await server.cli(["compact", "--data", data]);
  assert.equal(compact.code, 0, compact.stderr);
  await using again = await startCatbusd([], { data });
  const dumped = await again.cli(["dump", "--url", again.wsUrl, "--token", again.adminKey]);
  assert.equal(JSON.parse(dumped.stdout).payload, 1);
  await again.stop();
  await Deno.remove(data, { recursive: true });
  await Deno.remove(other, { recursive: true });
});
