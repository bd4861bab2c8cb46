import assert from "node:assert/strict";
import { canAccess, TOPIC_NAME } from "./access.ts";
import type { TopicRecord, UserRecord } from "./store.ts";

const user = (id: string, permissions: UserRecord["permissions"]): UserRecord => ({
  user_id: id,
  username: id,
  email: null,
  hashed_password: "",
  is_active: true,
  created_at: "",
  permissions,
});
const topic = (owner: string, grants: string[] = [], isPublic = false): TopicRecord => ({
  topic_id: "t",
  topic_name: "t",
  owner_id: owner,
  is_public: isPublic,
  description: null,
  created_at: "",
  grants: Object.fromEntries(grants.map((g) => [g, ""])),
  first_seq: 1,
});

Deno.test("pulsar access - admin, owner, granted users, public topics for reading", () => {
  const alice = user("alice", ["read", "write"]);
  const bob = user("bob", ["read", "write"]);
  assert.equal(canAccess(alice, topic("alice"), "write"), true, "owner");
  assert.equal(canAccess(bob, topic("alice"), "read"), false, "private");
  assert.equal(canAccess(bob, topic("alice", ["bob"]), "write"), true, "granted: read and write");
  assert.equal(canAccess(bob, topic("alice", [], true), "read"), true, "public: read");
  assert.equal(canAccess(bob, topic("alice", [], true), "write"), false, "public: not write");
  assert.equal(canAccess(user("root", ["admin"]), topic("alice"), "write"), true, "admin");
  assert.equal(canAccess(bob, undefined, "write"), true, "a topic to be created by its publish");
});

Deno.test("pulsar access - topic names fit the channel limit", () => {
  assert.equal(TOPIC_NAME.test("user-notifications_2"), true);
  assert.equal(TOPIC_NAME.test("a".repeat(248)), true);
  assert.equal(TOPIC_NAME.test("a".repeat(249)), false);
  for (const bad of ["", "a.b", "a b", "a*", ">", "ü"]) {
    assert.equal(TOPIC_NAME.test(bad), false, bad);
  }
});
