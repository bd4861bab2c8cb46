import assert from "node:assert/strict";
import { join } from "node:path";
import { PulsarStore } from "./store.ts";

const user = (i: number) => ({
  username: `user${i}`,
  email: null,
  hashed_password: `$argon2id$v=19$m=65536,t=3,p=4$${"x".repeat(1000)}`,
  permissions: ["read" as const],
});

Deno.test("pulsar file store - a change appends its record; a journal past the snapshot is folded into it", async () => {
  const dir = await Deno.makeTempDir();
  const journal = join(dir, "pulsar", "journal.jsonl");
  const snapshot = join(dir, "pulsar", "state.json");
  try {
    const store = await PulsarStore.open(dir);
    await store.deny("first", Math.floor(Date.now() / 1000) + 60);
    const oneLine = (await Deno.stat(journal)).size;
    assert.ok(oneLine < 200, `one logout wrote ${oneLine} bytes`);
    for (let i = 0; i < 300; i++) await store.createUser(user(i));
    // ~360 kB of users: past the 256 KiB floor the journal was folded into the snapshot and
    // emptied, and holds only the users made since.
    assert.ok((await Deno.stat(snapshot)).size > 200_000);
    assert.ok((await Deno.stat(journal)).size < 150_000);
    await store.close();

    const again = await PulsarStore.open(dir);
    assert.equal(again.users().length, 300);
    assert.equal(again.isDenied("first"), true);
    await again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pulsar file store - the data files are readable by this user only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await PulsarStore.open(dir);
    for (let i = 0; i < 300; i++) await store.createUser(user(i));
    await store.close();
    for (const f of ["journal.jsonl", "state.json"]) {
      assert.equal((await Deno.stat(join(dir, "pulsar", f))).mode! & 0o777, 0o600, f);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
