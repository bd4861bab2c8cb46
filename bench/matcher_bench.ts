// Run before touching client/shared/subject-trie.ts: deno bench bench/matcher_bench.ts
import { SubjectTrie } from "../client/shared/subject-trie.ts";

const trie = new SubjectTrie<number>();
const uncached = new SubjectTrie<number>({ cacheSize: 0 });
for (let i = 0; i < 10_000; i++) {
  for (const t of [trie, uncached]) {
    t.insert(`tenant${i % 100}.room${i}.messages`, i);
    if (i % 10 === 0) t.insert(`tenant${i % 100}.*.messages`, i);
    if (i % 100 === 0) t.insert(`tenant${i % 100}.>`, i);
  }
}
const channels = Array.from(
  { length: 1000 },
  (_, i) => `tenant${i % 100}.room${i}.messages`,
);
let n = 0;

Deno.bench(
  "matcher - lookup, cache warm (10k patterns)",
  { group: "match", baseline: true },
  () => {
    trie.match(channels[n++ % channels.length]);
  },
);
Deno.bench(
  "matcher - lookup, no cache (10k patterns)",
  { group: "match" },
  () => {
    uncached.match(channels[n++ % channels.length]);
  },
);
Deno.bench("matcher - subscribe + unsubscribe with a warm cache", () => {
  trie.insert("tenant1.roomX.messages", -1);
  trie.remove("tenant1.roomX.messages", -1);
});
