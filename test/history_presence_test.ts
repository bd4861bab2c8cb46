/**
 * History and presence against a real catbusd: the newest messages of a channel from the log
 * (and from an ephemeral namespace's memory), paged and granted as subscribing is; members
 * present through every native transport and Bus event streams, with joins, leaves and the
 * token's info.
 */
import assert from "node:assert/strict";
import {
  CatbusClient,
  CatbusError,
  type PresenceEvent,
  sseTransport,
  type Transport,
  websocketTransport,
} from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { mintToken } from "../client/tokens.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";
import { nativeClient } from "./helpers/native.ts";
import { openSse } from "./helpers/sse.ts";
import { valkeyOrSkip } from "./helpers/valkey.ts";
import { withValkeyNodes } from "./helpers/valkey-nodes.ts";

const SECRET = "history-presence-test-secret";

const refusedWith = (code: string) => (e: unknown) => e instanceof CatbusError && e.code === code;

/** A client of `clientId` whose token reads and writes `room.>` and carries an `info` claim. */
async function client(clientId: string, transport: Transport, url: string) {
  const token = await mintToken({
    clientId,
    grants: [{ permission: "read", pattern: "room.>" }, { permission: "write", pattern: "room.>" }],
    info: { name: clientId.toUpperCase() },
  }, SECRET);
  const c = new CatbusClient({ url, token, transport });
  await c.connect();
  return c;
}

/** Presence events of a subscription, awaited one by one. */
function events() {
  const seen: string[] = [];
  const waiters: (() => void)[] = [];
  return {
    onPresence: ({ event, member }: PresenceEvent) => {
      seen.push(`${event} ${member.clientId}`);
      waiters.splice(0).forEach((w) => w());
    },
    until: (line: string) =>
      within(
        (async () => {
          while (!seen.includes(line)) await new Promise<void>((r) => waiters.push(r));
        })(),
        10_000,
        line,
      ),
  };
}

Deno.test("history - the newest messages of a channel from the log, oldest first, paged with next", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-history-" });
  const server = await startCatbusd([], { data });
  const admin = await nativeClient(server);
  for (let i = 1; i <= 30; i++) await admin.publish(i % 3 ? "chat.other" : "chat.lobby", { i });
  const page = await admin.history<{ i: number }>("chat.lobby", { limit: 4 });
  assert.deepEqual(page.messages.map((m) => m.payload.i), [21, 24, 27, 30]);
  assert.equal(page.messages[0].channel, "chat.lobby");
  assert.ok(page.next, "there are older ones");
  const older = await admin.history<{ i: number }>("chat.lobby", { limit: 100, before: page.next });
  assert.deepEqual(older.messages.map((m) => m.payload.i), [3, 6, 9, 12, 15, 18]);
  assert.equal(older.next, undefined, "the start was reached");
  const all = await admin.history("chat.>", { limit: 1000 });
  assert.equal(all.messages.length, 30);

  // After a restart holding only 5 messages in memory: the rest of the page is read from the log.
  await admin.disconnect();
  await server.stop();
  const again = await startCatbusd(["--history-messages", "5"], { data });
  const reader = await nativeClient(again);
  const stored = await reader.history<{ i: number }>("chat.lobby", { limit: 4 });
  assert.deepEqual(stored.messages.map((m) => m.payload.i), [21, 24, 27, 30]);
  await reader.disconnect();
  await again.stop();
  await Deno.remove(data, { recursive: true });
});

const valkey = await valkeyOrSkip("history on the Valkey engine");

Deno.test({
  name: "history - on the Valkey engine another node reads a channel's history from the shared " +
    "stream, paged with next",
  ignore: !valkey,
  async fn() {
    await withValkeyNodes(valkey!, 2, async ([n1, n2]) => {
      const writer = await nativeClient(n1);
      for (let i = 1; i <= 30; i++) {
        await writer.publish(i % 3 ? "chat.other" : "chat.lobby", { i });
      }
      const reader = await nativeClient(n2);
      const page = await reader.history<{ i: number }>("chat.lobby", { limit: 4 });
      assert.deepEqual(page.messages.map((m) => m.payload.i), [21, 24, 27, 30]);
      assert.ok(page.next, "there are older ones");
      const older = await reader.history<{ i: number }>("chat.lobby", {
        limit: 100,
        before: page.next,
      });
      assert.deepEqual(older.messages.map((m) => m.payload.i), [3, 6, 9, 12, 15, 18]);
      for (const c of [writer, reader]) await c.disconnect();
    }, ["--history-messages", "5"]);
  },
});

Deno.test("history - granted as subscribe is, within --max-history-limit, and from an ephemeral namespace's memory", async () => {
  await using server = await startCatbusd(["--secret", SECRET, "--max-history-limit", "10"]);
  const admin = await nativeClient(server);
  await server.cli(["namespace", "add", "ticks", "--ephemeral"]);
  for (let i = 1; i <= 3; i++) await admin.publish("ticks.btc", i);
  await admin.publish("room.1", "hello");
  const ticks = await admin.history("ticks.btc");
  assert.deepEqual(ticks.messages.map((m) => m.payload), [1, 2, 3]);

  const user = await client("ada", tcpTransport(), server.tcpUrl);
  assert.equal((await user.history("room.1")).messages[0].payload, "hello");
  await assert.rejects(user.history("ticks.btc"), refusedWith("forbidden"));
  await assert.rejects(admin.history("room.1", { limit: 11 }), refusedWith("limit_exceeded"));
  await assert.rejects(admin.history("nowhere.x"), refusedWith("not_found"));
  await assert.rejects(admin.history("*.x"), refusedWith("bad_request"));
  await Promise.all([admin.disconnect(), user.disconnect()]);
});

Deno.test("presence - members through TCP, WebSocket and SSE, with the token's info; joins and leaves; granted", async () => {
  await using server = await startCatbusd(["--secret", SECRET]);
  const admin = await nativeClient(server);
  await admin.publish("room.1", "created");
  const watcher = events();
  const ada = await client("ada", tcpTransport(), server.tcpUrl);
  await ada.subscribe("room.1", () => {}, { presence: true, onPresence: watcher.onPresence });
  const bob = await client("bob", websocketTransport(), server.wsUrl);
  await bob.subscribe("room.1", () => {}, { presence: true });
  await watcher.until("join bob");
  const cy = await client("cy", sseTransport(), server.httpUrl);
  const cySub = await cy.subscribe("room.1", () => {}, { presence: true });
  await watcher.until("join cy");

  const members = await admin.presence("room.1");
  assert.deepEqual(
    members.map((m) => [m.clientId, m.info]).sort(),
    [["ada", { name: "ADA" }], ["bob", { name: "BOB" }], ["cy", { name: "CY" }]],
  );
  // A second connection of a client is no second member, and its going is no leave.
  const bob2 = await client("bob", tcpTransport(), server.tcpUrl);
  await bob2.subscribe("room.1", () => {}, { presence: true });
  await bob2.disconnect();
  await cySub.unsubscribe();
  await watcher.until("leave cy");
  await bob.disconnect();
  await watcher.until("leave bob");
  assert.deepEqual(
    (await ada.presence("room.1")).map((m) => m.clientId),
    ["ada"],
    "bob left once, with his last connection",
  );

  await assert.rejects(ada.presence("other.1"), refusedWith("forbidden"));
  await assert.rejects(
    ada.subscribe("other.1", () => {}, { presence: true }),
    refusedWith("forbidden"),
  );
  await Promise.all([admin.disconnect(), ada.disconnect(), cy.disconnect()]);
});

Deno.test("presence - --max-presence-members refuses one member more, and the subscription with it", async () => {
  await using server = await startCatbusd(["--secret", SECRET, "--max-presence-members", "1"]);
  const admin = await nativeClient(server);
  await admin.publish("room.1", "created");
  const ada = await client("ada", tcpTransport(), server.tcpUrl);
  await ada.subscribe("room.1", () => {}, { presence: true });
  const bob = await client("bob", tcpTransport(), server.tcpUrl);
  await assert.rejects(
    bob.subscribe("room.1", () => {}, { presence: true }),
    refusedWith("limit_exceeded"),
  );
  await bob.subscribe("room.1", () => {});
  assert.deepEqual((await bob.presence("room.1")).map((m) => m.clientId), ["ada"]);
  await Promise.all([admin.disconnect(), ada.disconnect(), bob.disconnect()]);
});

Deno.test("presence - a Bus event stream opened with presence=true counts as a member until it closes", async () => {
  await using server = await startCatbusd(["--secret", SECRET, "--bus-auth", "token"]);
  const admin = await nativeClient(server);
  await admin.publish("room.1", "created");
  const watcher = events();
  await admin.subscribe("room.1", () => {}, { onPresence: watcher.onPresence });
  const token = await mintToken({
    clientId: "bus-user",
    grants: [{ permission: "read", pattern: "room.>" }],
    info: { via: "bus" },
  }, SECRET);
  const stream = await openSse(`${server.busUrl}/?subject=room.1&presence=true&token=${token}`);
  assert.equal(stream.response.status, 200);
  await watcher.until("join bus-user");
  assert.deepEqual(await admin.presence("room.1"), [{
    clientId: "bus-user",
    info: { via: "bus" },
  }]);
  await stream.close();
  await watcher.until("leave bus-user");
  const wildcard = await fetch(`${server.busUrl}/?subject=room.*&presence=true&token=${token}`);
  assert.equal(wildcard.status, 400, "presence needs a channel");
  await wildcard.body?.cancel();
  await admin.disconnect();
});
