/**
 * The Pulsar store contract: what the door may rely on from every place its users, topics and
 * grants live (data directory, PostgreSQL, Valkey) — changes kept and reopened, refresh tokens
 * used once — and, for the shared ones, what one node changes reaches another node's store and
 * is announced there, and two nodes changing at once lose nothing.
 */
import assert from "node:assert/strict";
import type { PulsarStore } from "../../src/dialects/pulsar/store.ts";
import { within } from "../helpers/deadline.ts";

export interface StoreUnderTest {
  /** One more store on the same backing (another node's, when `shared`). */
  open(): Promise<PulsarStore>;
  /** Closes what `open` made and removes the backing's data. */
  dispose(): Promise<void>;
}

const fields = (username: string) => ({
  username,
  email: null,
  hashed_password: "$argon2id$…",
  permissions: ["read" as const],
});

/** Resolves on the store's next announced change that makes `ready` true. */
function changed(store: PulsarStore, ready: () => boolean, what: string): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      if (ready()) return resolve();
      const off = store.onChange(() => {
        if (ready()) {
          off();
          resolve();
        }
      });
    }),
    5_000,
    what,
  );
}

export function runPulsarStoreContract(
  name: string,
  shared: boolean,
  make: () => Promise<StoreUnderTest>,
) {
  Deno.test(`${name} pulsar store - users, topics, grants and logouts are kept and reopened`, async () => {
    const backing = await make();
    try {
      const store = await backing.open();
      let changes = 0;
      store.onChange(() => changes++);
      const user = await store.createUser(fields("bob"));
      assert.equal(await store.createUser(fields("bob")), undefined, "taken");
      const topic = await store.createTopic({
        topic_name: "t",
        owner_id: user!.user_id,
        is_public: false,
        description: null,
      }, 7);
      assert.equal(await store.grant(topic!, "other"), true);
      assert.equal(await store.grant(topic!, "other"), false);
      assert.equal(await store.revoke(topic!, "__proto__"), false, "inherited names are no grant");
      await store.deny("jti-1", Math.floor(Date.now() / 1000) + 60);
      assert.equal(changes, 4);
      await store.updateUser(user!.user_id, { is_active: false });
      await store.close();

      const again = await backing.open();
      assert.equal(again.userByName("bob")?.user_id, user!.user_id);
      assert.equal(again.user(user!.user_id)?.is_active, false);
      assert.deepEqual(Object.keys(again.topic("t")!.grants), ["other"]);
      assert.equal(again.topic("t")!.first_seq, 7);
      assert.deepEqual(again.ownedTopics(user!.user_id), ["t"]);
      assert.equal(again.isDenied("jti-1"), true);
      assert.equal(await again.deleteUser(user!.user_id), true);
      assert.equal(again.userByName("bob"), undefined);
      assert.equal(await again.deleteTopic("t"), true);
      assert.equal(again.topic("t"), undefined);
      await again.close();
    } finally {
      await backing.dispose();
    }
  });

  Deno.test(`${name} pulsar store - a refresh token is used once; a spent one shown again revokes its chain`, async () => {
    const backing = await make();
    try {
      const store = await backing.open();
      const first = await store.issueRefresh("u1", 60_000);
      const used = await store.consumeRefresh(first);
      assert.equal(used?.userId, "u1");
      const second = await store.issueRefresh("u1", 60_000, used!.jti);
      assert.equal(await store.consumeRefresh(first), undefined, "spent");
      assert.equal(await store.consumeRefresh(second), undefined, "the chain was revoked");
      const expired = await store.issueRefresh("u1", -1);
      assert.equal(await store.consumeRefresh(expired), undefined);
      await store.close();
    } finally {
      await backing.dispose();
    }
  });

  if (!shared) return;

  Deno.test(`${name} pulsar store - a change on one node reaches the other and is announced there`, async () => {
    const backing = await make();
    try {
      const a = await backing.open();
      const b = await backing.open();
      const user = await a.createUser(fields("carol"));
      await changed(b, () => b.userByName("carol") !== undefined, "the user on B");
      const topic = await b.createTopic({
        topic_name: "news",
        owner_id: user!.user_id,
        is_public: false,
        description: null,
      }, 0);
      await changed(a, () => a.topic("news") !== undefined, "the topic on A");
      await a.grant(a.topic("news")!, "dave");
      await changed(b, () => Object.hasOwn(b.topic("news")!.grants, "dave"), "the grant on B");
      await a.revoke(topic!, "dave");
      await changed(b, () => !Object.hasOwn(b.topic("news")!.grants, "dave"), "the revoke on B");
      await b.deny("jti-2", Math.floor(Date.now() / 1000) + 60);
      await changed(a, () => a.isDenied("jti-2"), "the logout on A");
      await a.close();
      await b.close();
    } finally {
      await backing.dispose();
    }
  });

  Deno.test(`${name} pulsar store - two nodes changing at once lose nothing; a name is taken once`, async () => {
    const backing = await make();
    try {
      const a = await backing.open();
      const b = await backing.open();
      const names = Array.from({ length: 10 }, (_, i) => `user${i}`);
      await Promise.all(names.map((n, i) => (i % 2 ? a : b).createUser(fields(n))));
      const both = await Promise.all([a.createUser(fields("erin")), b.createUser(fields("erin"))]);
      assert.equal(both.filter(Boolean).length, 1, "one of the two got the name");
      const fresh = await backing.open();
      assert.deepEqual(fresh.users().map((u) => u.username).sort(), [...names, "erin"].sort());
      for (const s of [a, b, fresh]) await s.close();
    } finally {
      await backing.dispose();
    }
  });
}
