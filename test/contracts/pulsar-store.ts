/**
 * The Pulsar store contract: what the door may rely on from every place its users, topics and
 * grants live (data directory, PostgreSQL, Valkey) — changes kept and reopened, refresh tokens
 * used once — and, for the shared ones, what one node changes reaches another node's store and
 * is announced there, and two nodes changing at once lose nothing.
 */
import assert from "node:assert/strict";
import type { PulsarStore } from "../../src/dialects/pulsar/store.ts";
import type {
  PulsarState,
  TopicRecord,
  UserRecord,
} from "../../src/dialects/pulsar/record-types.ts";
import { within } from "../helpers/deadline.ts";

export interface StoreUnderTest {
  /** One more store on the same backing (another node's, when `shared`). */
  open(): Promise<PulsarStore>;
  /** Closes what `open` made and removes the backing's data. */
  dispose(): Promise<void>;
  /**
   * Stores `state` as earlier versions did (one document: the file, the row, the hash), before
   * any `open`: the next open migrates it.
   */
  storeOldLayout(state: PulsarState): Promise<void>;
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

  Deno.test(`${name} pulsar store - the old single-document layout is migrated on open`, async () => {
    const backing = await make();
    try {
      const exp = Math.floor(Date.now() / 1000) + 600;
      const olga: UserRecord = {
        user_id: "u-1",
        ...fields("olga"),
        email: "olga@example.com",
        is_active: true,
        created_at: "2026-01-02T03:04:05.678Z",
        permissions: ["admin", "read"],
      };
      const old: TopicRecord = {
        topic_id: "t-1",
        topic_name: "old",
        owner_id: "u-1",
        is_public: true,
        description: "kept",
        created_at: "2026-01-02T03:04:06.000Z",
        grants: { "u-2": "2026-01-02T03:04:07.000Z" },
        first_seq: 42,
      };
      await backing.storeOldLayout({
        version: 1,
        users: [olga],
        topics: [old],
        refresh: [{
          jti: "r-1",
          user_id: "u-1",
          secret_hash: "00",
          parent_jti: null,
          expires_at: Date.now() + 600_000,
          revoked: false,
        }],
        denied: { "jti-old": exp },
      });
      const store = await backing.open();
      assert.deepEqual(store.userByName("olga"), olga);
      assert.deepEqual(store.topic("old"), old);
      assert.equal(store.isDenied("jti-old"), true);
      await store.createUser(fields("newer"));
      await store.close();
      const again = await backing.open();
      assert.deepEqual(again.users().map((u) => u.username).sort(), ["newer", "olga"]);
      assert.equal(again.topic("old")?.first_seq, 42);
      await again.close();
    } finally {
      await backing.dispose();
    }
  });

  Deno.test(`${name} pulsar store - expired refresh tokens and logged-out ids are removed from storage`, async () => {
    const backing = await make();
    try {
      const store = await backing.open();
      const past = Math.floor(Date.now() / 1000) - 1;
      await store.deny("gone", past);
      await store.deny("kept", past + 600);
      const expired = await store.issueRefresh("u1", -1);
      const live = await store.issueRefresh("u1", 60_000);
      await store.close();
      const again = await backing.open();
      assert.equal(again.isDenied("gone"), false);
      assert.equal(again.isDenied("kept"), true);
      assert.equal(await again.consumeRefresh(expired), undefined);
      assert.equal((await again.consumeRefresh(live))?.userId, "u1");
      await again.close();
    } finally {
      await backing.dispose();
    }
  });

  Deno.test(`${name} pulsar store - changes made at once on one store all survive a reopen`, async () => {
    const backing = await make();
    try {
      const store = await backing.open();
      const owner = (await store.createUser(fields("owner")))!;
      const topics = await Promise.all(
        ["a", "b", "c"].map((n) =>
          store.createTopic({
            topic_name: n,
            owner_id: owner.user_id,
            is_public: false,
            description: null,
          }, 0)
        ),
      );
      const names = Array.from({ length: 20 }, (_, i) => `user${i}`);
      const [twice] = await Promise.all([
        Promise.all([store.createUser(fields("dup")), store.createUser(fields("dup"))]),
        ...names.map((n) => store.createUser(fields(n))),
        ...topics.map((t) => store.grant(t!, "guest")),
        store.updateUser(owner.user_id, { email: "o@example.com" }),
        store.updateTopic("b", { is_public: true }),
        store.deny("jti-x", Math.floor(Date.now() / 1000) + 60),
      ]);
      assert.equal((twice as unknown[]).filter(Boolean).length, 1, "one dup");
      await store.revoke(topics[2]!, "guest");
      await store.close();
      const again = await backing.open();
      assert.deepEqual(
        again.users().map((u) => u.username).sort(),
        [...names, "dup", "owner"].sort(),
      );
      assert.equal(again.user(owner.user_id)?.email, "o@example.com");
      assert.equal(again.topic("b")?.is_public, true);
      assert.deepEqual(["a", "b", "c"].map((n) => Object.keys(again.topic(n)!.grants)), [
        ["guest"],
        ["guest"],
        [],
      ]);
      assert.equal(again.isDenied("jti-x"), true);
      await again.close();
    } finally {
      await backing.dispose();
    }
  });

  if (!shared) return;

  Deno.test(`${name} pulsar store - two nodes changing different records at once both keep theirs`, async () => {
    const backing = await make();
    try {
      const a = await backing.open();
      const b = await backing.open();
      const x = (await a.createUser(fields("x")))!;
      const topic = (await a.createTopic({
        topic_name: "shared",
        owner_id: x.user_id,
        is_public: false,
        description: null,
      }, 0))!;
      await changed(
        b,
        () => b.topic("shared") !== undefined && b.user(x.user_id) !== undefined,
        "B",
      );
      const y = (await b.createUser(fields("y")))!;
      await changed(a, () => a.user(y.user_id) !== undefined, "y on A");
      await Promise.all([
        a.updateUser(x.user_id, { is_active: false }),
        b.updateUser(y.user_id, { email: "y@example.com" }),
        a.grant(topic, "g-a"),
        b.grant(b.topic("shared")!, "g-b"),
        a.deny("jti-a", Math.floor(Date.now() / 1000) + 60),
        b.deny("jti-b", Math.floor(Date.now() / 1000) + 60),
      ]);
      const kept = (s: PulsarStore) =>
        s.user(x.user_id)?.is_active === false && s.user(y.user_id)?.email === "y@example.com" &&
        Object.keys(s.topic("shared")!.grants).sort().join() === "g-a,g-b" &&
        s.isDenied("jti-a") && s.isDenied("jti-b");
      await changed(a, () => kept(a), "every change on A");
      await changed(b, () => kept(b), "every change on B");
      const fresh = await backing.open();
      assert.equal(kept(fresh), true, "every change stored");
      for (const s of [a, b, fresh]) await s.close();
    } finally {
      await backing.dispose();
    }
  });

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
