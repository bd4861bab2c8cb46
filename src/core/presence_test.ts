import assert from "node:assert/strict";
import { type PresenceConnection, type PresenceEvent, PresenceRegistry } from "./presence.ts";

const connection = (clientId: string, lastSeen = 0): PresenceConnection & { lastSeen: number } => ({
  member: { clientId },
  lastSeen,
});

Deno.test("presence - a client joins with its first connection and leaves with its last", () => {
  const registry = new PresenceRegistry({ ttlMs: 1000, maxMembers: 10 });
  const heard: string[] = [];
  registry.watch("room.1", {
    presence: (e: PresenceEvent) => heard.push(`${e.event} ${e.member.clientId}`),
  });
  const [a1, a2, b] = [connection("a"), connection("a"), connection("b")];
  registry.join("room.1", a1);
  registry.join("room.1", a2);
  registry.join("room.1", b);
  assert.deepEqual(registry.members("room.1").map((m) => m.clientId), ["a", "b"]);
  registry.leave("room.1", a1);
  registry.leaveAll(b);
  registry.leave("room.1", a2);
  assert.deepEqual(heard, ["join a", "join b", "leave b", "leave a"]);
  assert.deepEqual(registry.members("room.1"), []);
});

Deno.test("presence - the TTL sweep removes connections that went silent, with a leave", () => {
  const registry = new PresenceRegistry({ ttlMs: 1000, maxMembers: 10 });
  const heard: string[] = [];
  registry.watch("room.1", { presence: (e) => heard.push(`${e.event} ${e.member.clientId}`) });
  const [silent, alive] = [connection("silent", 0), connection("alive", 0)];
  registry.join("room.1", silent);
  registry.join("room.2", silent);
  registry.join("room.1", alive);
  alive.lastSeen = 1500;
  assert.equal(registry.sweep(2000), 1);
  assert.deepEqual(registry.members("room.1").map((m) => m.clientId), ["alive"]);
  assert.deepEqual(registry.members("room.2"), []);
  assert.deepEqual(heard, ["join silent", "join alive", "leave silent"]);
});

Deno.test("presence - one member more than maxMembers is refused; another connection of a member is not", () => {
  const registry = new PresenceRegistry({ ttlMs: 1000, maxMembers: 1 });
  registry.join("room.1", connection("a"));
  registry.join("room.1", connection("a"));
  assert.throws(() => registry.join("room.1", connection("b")), /--max-presence-members/);
});
