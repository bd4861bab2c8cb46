import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";
import { json, RawConnection } from "./helpers/raw.ts";
import { openSse } from "./helpers/sse.ts";

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
  // Even for the admin key.
  const admin = await connect(server, server.adminKey);
  const adminSys = await admin.reply(
    await admin.send(FrameType.Publish, { channel: "$sys.x" }, json(1)),
  );
  assert.equal(adminSys.json.code, "forbidden");
  admin.close();
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
  assert.equal((await c.next((f) => f.type === FrameType.Message)).json.channel, "docs.a");

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
  // Its own publish would have reached it before the ok and the pong: nothing came.
  const after = await c.reply(await c.send(FrameType.Ping));
  assert.equal(after.type, FrameType.Pong);
  assert.equal(c.has((f) => f.type === FrameType.Message), false, "no message after the revoke");
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

/** A role with `grants` (CLI permission/pattern pairs), as a user would make it. */
async function roleWith(server: TestServer, ...grants: string[][]): Promise<string> {
  const created = await server.cli(["role", "create", "--name", "Reader"]);
  assert.equal(created.code, 0, created.stderr);
  const role = created.stdout.split("\n")[0];
  for (const g of grants) {
    const out = await server.cli(["grant", ...g, "--to", role]);
    assert.equal(out.code, 0, out.stderr);
  }
  return role;
}

/**
 * Opens a Bus stream of `docs.>` with `token`, checks it delivers, ends its access with
 * `cut`, and checks the stream ends with an error event naming `code` and that a message
 * published afterwards reaches an admin watcher but not the ended stream.
 */
async function busStreamEndsWhen(
  server: TestServer,
  token: string,
  code: string,
  cut: () => Promise<unknown>,
  query = "",
) {
  const admin = await connect(server, server.adminKey);
  const publish = async (n: number) =>
    assert.equal(
      (await admin.reply(await admin.send(FrameType.Publish, { channel: "docs.a" }, json(n))))
        .type,
      FrameType.Ok,
    );
  await publish(0);
  await admin.reply(await admin.send(FrameType.Subscribe, { pattern: "docs.>" }));
  const stream = await openSse(`${server.busUrl}/?subject=docs.>${query}`, {
    authorization: `Bearer ${token}`,
  });
  assert.equal(stream.response.status, 200);
  await publish(1);
  assert.equal((await within(stream.next(), 5000, "first event")).event, "msg");
  await admin.next((f) => f.type === FrameType.Message);

  await cut();
  const notice = await within(stream.next(), 5000, "the stream's error event");
  assert.equal(notice.event, "error");
  assert.match(notice.data, new RegExp(`^${code}: `));
  await within(stream.ended, 5000, "the stream's end");
  await publish(2);
  await within(admin.next((f) => f.type === FrameType.Message), 5000, "the admin's copy");
  assert.equal(stream.buffered, 0, "nothing reached the ended stream");
  await stream.close();
  admin.close();
}

Deno.test("grants - Bus streams (plain and manual-ack) end on revoke, role delete and expiry; later messages do not arrive", async () => {
  await using server = await startCatbusd(["--bus-auth", "token"]);
  const revoked = await roleWith(server, ["-p", "read", "docs.>"]);
  await busStreamEndsWhen(
    server,
    revoked,
    "revoked",
    () => server.cli(["revoke", "-p", "read", "docs.>", "--from", revoked]),
  );
  // A manual-ack stream is a consumer: it takes create too, as consumer_create does.
  const manual = await roleWith(server, ["-p", "read", "-p", "create", "docs.>"]);
  await busStreamEndsWhen(
    server,
    manual,
    "revoked",
    () => server.cli(["revoke", "-p", "read", "docs.>", "--from", manual]),
    "&ack=manual",
  );
  const deleted = await roleWith(server, ["-p", "read", "docs.>"]);
  await busStreamEndsWhen(
    server,
    deleted,
    "revoked",
    () => server.cli(["role", "delete", deleted]),
  );
  const expiring = await grant(server, "-p", "read", "docs.>", "--expires", "3s");
  await busStreamEndsWhen(server, expiring, "unauthorized", () => Promise.resolve());
});

Deno.test("grants - a revoked read grant ends durable-consumer deliveries on the native door", async () => {
  await using server = await startCatbusd();
  const role = await roleWith(server, ["-p", "all", "jobs.>"]);
  const c = await connect(server, role);
  const ok = async (type: number, meta: unknown, data?: Uint8Array) => {
    const r = await c.reply(await c.send(type, meta, data));
    assert.equal(r.type, FrameType.Ok, JSON.stringify(r.json));
  };
  await ok(FrameType.Publish, { channel: "jobs.0" }, json(0));
  await ok(FrameType.ConsumerCreate, { name: "worker", pattern: "jobs.>", from: "new" });
  await ok(FrameType.Consume, { name: "worker" });
  await ok(FrameType.Publish, { channel: "jobs.1" }, json(1));
  const first = await within(
    c.next((f) => f.type === FrameType.Message),
    5000,
    "first delivery",
  );
  assert.equal(first.json.consumer, "worker");
  await ok(FrameType.Ack, { consumer: "worker", seq: first.json.seq });

  const out = await server.cli(["revoke", "-p", "read", "jobs.>", "--from", role]);
  assert.equal(out.code, 0, out.stderr);
  const notice = await within(
    c.next((f) => f.type === FrameType.Notice),
    5000,
    "the revoked notice",
  );
  assert.deepEqual(
    [notice.json.event, notice.json.code, notice.json.consumer],
    ["revoked", "revoked", "worker"],
  );
  await ok(FrameType.Publish, { channel: "jobs.2" }, json(2));
  // Another member gets it on its first attempt: it was never handed to the revoked one.
  const admin = await connect(server, server.adminKey);
  await admin.reply(await admin.send(FrameType.Consume, { name: "worker" }));
  const taken = await within(
    admin.next((f) => f.type === FrameType.Message),
    5000,
    "the admin's delivery",
  );
  assert.deepEqual([taken.json.channel, taken.json.attempt], ["jobs.2", 1]);
  await c.send(FrameType.Ping);
  const after = await within(
    c.next((f) => f.type === FrameType.Message || f.type === FrameType.Pong),
    5000,
    "pong",
  );
  assert.equal(after.type, FrameType.Pong, "no delivery reached the revoked connection");
  c.close();
  admin.close();
});

Deno.test("grants - a native connection is closed when its token expires; later messages do not arrive", async () => {
  await using server = await startCatbusd();
  const c = await connect(server, await grant(server, "-p", "read", "docs.>", "--expires", "3s"));
  assert.equal(
    (await c.reply(await c.send(FrameType.Subscribe, { pattern: "docs.>" }))).type,
    FrameType.Ok,
  );
  const bye = await c.next((f) => f.type === FrameType.Error && f.id === 0, "the expiry", 10_000);
  assert.equal(bye.json.code, "unauthorized");
  assert.match(bye.json.message as string, /expired/);
  await c.untilClosed();
  const admin = await connect(server, server.adminKey);
  await admin.reply(await admin.send(FrameType.Publish, { channel: "docs.a" }, json(1)));
  admin.close();
  assert.equal(c.has((f) => f.type === FrameType.Message), false);
});

Deno.test("grants - a client reads its own reply inbox and no other", async () => {
  await using server = await startCatbusd();
  const alice = await connect(
    server,
    await grant(server, "-p", "read", "x.>", "--client-id", "alice"),
  );
  const bob = await connect(server, await grant(server, "-p", "read", "x.>", "--client-id", "bob"));
  const subscribe = async (c: RawConnection, pattern: string) =>
    (await c.reply(await c.send(FrameType.Subscribe, { pattern }))).json.code ?? "ok";
  assert.equal(await subscribe(alice, "_inbox.alice.>"), "ok");
  assert.equal(await subscribe(bob, "_inbox.bob.*"), "ok");
  for (const pattern of ["_inbox.alice.>", "_inbox.alice.r1", "_inbox.*.r1", "_inbox.>", ">"]) {
    assert.equal(await subscribe(bob, pattern), "forbidden", pattern);
  }
  alice.close();
  bob.close();
});
