import assert from "node:assert/strict";
import { type EntryWrite, OwnEntries, RegistryMirror } from "./node-registry.ts";
import type { RegistryListener } from "./node-channels.ts";

/** A listener that records the other nodes' entries. */
function recorder() {
  const entries = new Map<string, Set<string>>();
  const listener: RegistryListener = {
    reset: (node, set) => void entries.set(node, new Set(set)),
    added: (node, e) => void entries.set(node, (entries.get(node) ?? new Set()).add(e)),
    removed: (node, e) => void entries.get(node)?.delete(e),
    gone: (node) => void entries.delete(node),
  };
  return { entries, listener, of: (node: string) => [...entries.get(node) ?? []].sort() };
}

Deno.test("node registry - changes apply in version order; a gap reads the node again", async () => {
  let stored = { version: 3, entries: new Set(["s a", "s b"]) };
  let reads = 0;
  const mirror = new RegistryMirror(() => {
    reads++;
    return Promise.resolve(stored);
  });
  const r = recorder();
  mirror.watch(r.listener);
  mirror.changed("n1", 3, ["+s b"]); // first sight: read
  await Promise.resolve();
  assert.deepEqual(r.of("n1"), ["s a", "s b"]);
  mirror.changed("n1", 4, ["-s a", "+s c"]);
  assert.deepEqual(r.of("n1"), ["s b", "s c"]);
  assert.equal(reads, 1);
  stored = { version: 7, entries: new Set(["s z"]) };
  mirror.changed("n1", 7, ["+s z"]); // 5 and 6 were missed
  await Promise.resolve();
  assert.equal(reads, 2);
  assert.deepEqual(r.of("n1"), ["s z"]);
  mirror.changed("n1", 8, ["!"]);
  assert.equal(r.entries.has("n1"), false);
});

Deno.test("node registry - changes heard during a read are applied after it, once", async () => {
  const read = Promise.withResolvers<{ version: number; entries: Set<string> }>();
  const mirror = new RegistryMirror(() => read.promise);
  const r = recorder();
  mirror.watch(r.listener);
  mirror.present(new Set(["n1"]));
  mirror.changed("n1", 5, ["+s old"]); // already in what the read returns
  mirror.changed("n1", 6, ["+s new"]);
  read.resolve({ version: 5, entries: new Set(["s old"]) });
  await read.promise;
  await Promise.resolve();
  assert.deepEqual(r.of("n1"), ["s new", "s old"]);
  mirror.present(new Set()); // its listing expired
  assert.equal(r.entries.has("n1"), false);
});

Deno.test("node registry - own changes of one turn go in one write; after a failure the whole set", async () => {
  const writes: EntryWrite[] = [];
  let fail = false;
  const own = new OwnEntries((w) => {
    writes.push(w);
    return fail ? Promise.reject(new Error("down")) : Promise.resolve();
  });
  await Promise.all([own.enter("s a", true), own.enter("s b", true), own.enter("s a", true)]);
  assert.deepEqual(writes, [{ ops: ["+s a", "+s b"] }]);
  fail = true;
  await own.enter("s a", false);
  assert.equal(own.stale, true);
  fail = false;
  await own.enter("s c", true);
  assert.deepEqual(writes.at(-1), { all: ["s b", "s c"] });
  assert.equal(own.stale, false);
});
