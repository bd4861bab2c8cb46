import assert from "node:assert/strict";
import { FrameType } from "../src/protocol/frame.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { json, RawConnection } from "./helpers/raw.ts";

/** Issues a token through the CLI, as a user would. */
async function grant(server: TestServer, ...args: string[]): Promise<string> {
  const out = await server.cli(["grant", ...args]);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout.split("\n")[0];
}

async function connect(server: TestServer, token: string) {
  const c = await RawConnection.connect(server.tcpPort);
  const welcome = await c.hello(token);
  assert.equal(welcome.type, FrameType.Welcome, JSON.stringify(welcome.json));
  return c;
}

Deno.test("grants - publish outside write grants is refused and nothing is delivered", async () => {
  await using server = await startCatbusd();
  const admin = await connect(server, server.adminKey);
  await admin.reply(
    await admin.send(FrameType.Publish, { channel: "project.setup" }, json(0)),
  );
  const watcher = await connect(server, server.adminKey);
  await watcher.reply(
    await watcher.send(FrameType.Subscribe, { pattern: ">" }),
  );

  const writer = await connect(
    server,
    await grant(server, "-p", "write", "project.alpha.>"),
  );
  const denied = await writer.reply(
    await writer.send(
      FrameType.Publish,
      { channel: "project.beta.x" },
      json("no"),
    ),
  );
  assert.equal(denied.type, FrameType.Error);
  assert.equal(denied.json.code, "forbidden");
  const allowed = await writer.reply(
    await writer.send(
      FrameType.Publish,
      { channel: "project.alpha.x" },
      json("yes"),
    ),
  );
  assert.equal(allowed.type, FrameType.Ok);
  // The only message the watcher sees is the allowed one.
  const m = await watcher.next((f) => f.type === FrameType.Message);
  assert.equal(m.json.channel, "project.alpha.x");
  assert.equal(new TextDecoder().decode(m.data), '"yes"');
  // Reading needs a read grant.
  const sub = await writer.reply(
    await writer.send(FrameType.Subscribe, { pattern: "project.alpha.>" }),
  );
  assert.equal(sub.json.code, "forbidden");
  for (const c of [admin, watcher, writer]) c.close();
});

Deno.test("grants - read grants bound subscriptions; wildcards must stay inside them", async () => {
  await using server = await startCatbusd();
  const reader = await connect(
    server,
    await grant(server, "-p", "read", "chat.*.messages"),
  );
  const ok = await reader.reply(
    await reader.send(FrameType.Subscribe, { pattern: "chat.lobby.messages" }),
  );
  assert.equal(ok.type, FrameType.Ok);
  for (const pattern of ["chat.>", "chat.lobby.*", ">"]) {
    const r = await reader.reply(
      await reader.send(FrameType.Subscribe, { pattern }),
    );
    assert.equal(r.json.code, "forbidden", pattern);
  }
  reader.close();
});

Deno.test("grants - a new namespace needs create; write alone is told how to get it", async () => {
  await using server = await startCatbusd();
  const writer = await connect(
    server,
    await grant(server, "-p", "write", "fresh.>"),
  );
  const r = await writer.reply(
    await writer.send(FrameType.Publish, { channel: "fresh.x" }, json(1)),
  );
  assert.equal(r.json.code, "not_found");
  assert.match(r.json.message as string, /create/);
  const creator = await connect(
    server,
    await grant(server, "-p", "all", "fresh.>"),
  );
  assert.equal(
    (await creator.reply(
      await creator.send(FrameType.Publish, { channel: "fresh.x" }, json(1)),
    ))
      .type,
    FrameType.Ok,
  );
  // Now it exists, write is enough.
  assert.equal(
    (await writer.reply(
      await writer.send(FrameType.Publish, { channel: "fresh.y" }, json(2)),
    ))
      .type,
    FrameType.Ok,
  );
  // $sys is the server's.
  const sys = await creator.reply(
    await creator.send(FrameType.Publish, { channel: "$sys.x" }, json(1)),
  );
  assert.equal(sys.json.code, "forbidden");
  writer.close();
  creator.close();
});

Deno.test("grants - role revoke and delete reach live connections", async () => {
  await using server = await startCatbusd();
  const created = await server.cli(["role", "create", "--name", "Editor"]);
  assert.equal(created.code, 0, created.stderr);
  const role = created.stdout.split("\n")[0];
  assert.match(role, /^role-[A-Za-z0-9_-]{22}$/);
  assert.equal(
    (await server.cli(["grant", "-p", "all", "docs.>", "--to", role])).code,
    0,
  );

  const c = await connect(server, role);
  assert.equal(
    (await c.reply(await c.send(FrameType.Subscribe, { pattern: "docs.>" })))
      .type,
    FrameType.Ok,
  );
  assert.equal(
    (await c.reply(
      await c.send(FrameType.Publish, { channel: "docs.a" }, json(1)),
    )).type,
    FrameType.Ok,
  );

  const revoked = await server.cli([
    "revoke",
    "-p",
    "read",
    "docs.>",
    "--from",
    role,
  ]);
  assert.equal(revoked.code, 0, revoked.stderr);
  const notice = await c.next((f) => f.type === FrameType.Notice);
  assert.deepEqual([notice.json.event, notice.json.pattern, notice.json.code], [
    "revoked",
    "docs.>",
    "revoked",
  ]);
  // Write is still granted; read is not.
  assert.equal(
    (await c.reply(
      await c.send(FrameType.Publish, { channel: "docs.b" }, json(2)),
    )).type,
    FrameType.Ok,
  );
  assert.equal(
    (await c.reply(await c.send(FrameType.Subscribe, { pattern: "docs.>" })))
      .json.code,
    "forbidden",
  );

  assert.equal((await server.cli(["role", "delete", role])).code, 0);
  const bye = await c.next((f) => f.type === FrameType.Error && f.id === 0);
  assert.equal(bye.json.code, "revoked");
  await c.untilClosed();
  const again = await RawConnection.connect(server.tcpPort);
  assert.equal((await again.hello(role)).json.code, "unauthorized");
  again.close();
});
