import assert from "node:assert/strict";
import { PulsarStore } from "./store.ts";

Deno.test("pulsar store - refresh tokens are used once; a spent one shown again revokes its chain", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await PulsarStore.open(dir);
    const first = await store.issueRefresh("u1", 60_000);
    const used = await store.consumeRefresh(first);
    assert.equal(used?.userId, "u1");
    const second = await store.issueRefresh("u1", 60_000, used!.jti);
    assert.equal(await store.consumeRefresh(first), undefined, "spent");
    assert.equal(await store.consumeRefresh(second), undefined, "the chain was revoked");
    const wrongSecret = (await store.issueRefresh("u1", 60_000)).split(".")[0] + ".guess";
    assert.equal(await store.consumeRefresh(wrongSecret), undefined);
    const expired = await store.issueRefresh("u1", -1);
    assert.equal(await store.consumeRefresh(expired), undefined);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pulsar store - users, topics, grants and logouts survive reopening; changes are announced; grants are own properties", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await PulsarStore.open(dir);
    let changes = 0;
    store.onChange(() => changes++);
    const user = await store.createUser({
      username: "bob",
      email: null,
      hashed_password: "$argon2id$…",
      permissions: ["read"],
    });
    assert.equal(await store.createUser({ ...user!, username: "bob" }), undefined, "taken");
    const topic = await store.createTopic({
      topic_name: "t",
      owner_id: user!.user_id,
      is_public: false,
      description: null,
    }, 7);
    assert.equal(await store.grant(topic!, "other"), true);
    assert.equal(await store.grant(topic!, "other"), false);
    for (const inherited of ["constructor", "__proto__", "toString"]) {
      assert.equal(await store.revoke(topic!, inherited), false, `${inherited} is no grant`);
    }
    await store.deny("jti-1", Math.floor(Date.now() / 1000) + 60);
    assert.equal(changes, 4);
    await store.close();

    const again = await PulsarStore.open(dir);
    assert.equal(again.userByName("bob")?.user_id, user!.user_id);
    assert.deepEqual(Object.keys(again.topic("t")!.grants), ["other"]);
    assert.equal(again.topic("t")!.first_seq, 7);
    assert.deepEqual(again.ownedTopics(user!.user_id), ["t"]);
    assert.equal(again.isDenied("jti-1"), true);
    assert.equal(await again.deleteUser(user!.user_id), true);
    assert.equal(again.userByName("bob"), undefined);
    await again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
