import assert from "node:assert/strict";
import fc from "fast-check";
import { covers, matches, parseChannel, parsePattern } from "./subject.ts";
import { SubjectTrie } from "./subject-trie.ts";
import { CatbusError } from "./errors.ts";

/** The simplest possible matcher: the oracle the trie is checked against. */
function reference(pattern: string, channel: string): boolean {
  const p = pattern.split(".");
  const c = channel.split(".");
  if (c[0].startsWith("$") && (p[0] === "*" || p[0] === ">")) return false;
  if (p[p.length - 1] === ">") {
    if (c.length < p.length) return false;
    return p.slice(0, -1).every((t, i) => t === "*" || t === c[i]);
  }
  return p.length === c.length && p.every((t, i) => t === "*" || t === c[i]);
}

const token = fc.constantFrom("a", "b", "c", "$sys", "x1");
const channelArb = fc.array(token, { minLength: 1, maxLength: 5 }).map((t) => t.join("."));
const patternArb = fc.array(fc.constantFrom("a", "b", "c", "$sys", "*", "x1"), {
  minLength: 1,
  maxLength: 5,
}).chain((t) => fc.boolean().map((gt) => (gt ? [...t.slice(0, -1), ">"] : t).join("."))).filter(
  (p) => {
    try {
      parsePattern(p);
      return true;
    } catch {
      return false;
    }
  },
);

for (const cacheSize of [0, 4]) {
  Deno.test(`subject trie - agrees with the reference matcher (cache ${cacheSize})`, () => {
    fc.assert(
      fc.property(
        fc.array(patternArb, { maxLength: 12 }),
        fc.array(channelArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(11), { maxLength: 6 }),
        (patterns, channels, removals) => {
          const trie = new SubjectTrie<number>({ cacheSize });
          const live = new Map<number, string>();
          const check = () => {
            for (const ch of channels) {
              const want = [...live].filter(([, p]) => reference(p, ch)).map((
                [i],
              ) => i).sort();
              const got = [...trie.match(ch)].sort();
              assert.deepEqual(got, want, `channel ${ch}`);
            }
          };
          patterns.forEach((p, i) => {
            trie.insert(p, i);
            live.set(i, p);
          });
          check();
          for (const r of removals) {
            const p = live.get(r);
            if (p !== undefined) {
              assert.equal(trie.remove(p, r), true);
              live.delete(r);
            }
            check();
          }
          assert.equal(trie.size, live.size);
        },
      ),
      { numRuns: 400 },
    );
  });
}

for (const cacheSize of [0, 4]) {
  Deno.test(`subject trie - inserts and removes between matches keep the cache right (cache ${cacheSize})`, () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("insert" as const),
        pattern: patternArb,
        value: fc.nat(3),
      }),
      fc.record({ kind: fc.constant("remove" as const), index: fc.nat(20) }),
      fc.record({ kind: fc.constant("match" as const), channel: fc.nat(2) }),
    );
    // A few channels per run, matched again and again, so most inserts meet a warm cache.
    const channels = fc.array(channelArb, { minLength: 3, maxLength: 3 });
    fc.assert(
      fc.property(channels, fc.array(op, { maxLength: 30 }), (chans, ops) => {
        const trie = new SubjectTrie<number>({ cacheSize });
        // (pattern, value) pairs; one value may be stored under several patterns.
        const live: [string, number][] = [];
        for (const o of ops) {
          if (o.kind === "insert") {
            const fresh = !live.some(([p, v]) => p === o.pattern && v === o.value);
            assert.equal(trie.insert(o.pattern, o.value), fresh);
            if (fresh) live.push([o.pattern, o.value]);
          } else if (o.kind === "remove" && o.index < live.length) {
            const [[p, v]] = live.splice(o.index, 1);
            assert.equal(trie.remove(p, v), true);
          } else if (o.kind === "match") {
            const channel = chans[o.channel];
            const want = live.filter(([p]) => reference(p, channel)).map((
              [, v],
            ) => v);
            assert.deepEqual(
              [...trie.match(channel)].sort(),
              want.sort(),
              `channel ${channel}`,
            );
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
}

Deno.test("subject - matches agrees with the reference", () => {
  fc.assert(
    fc.property(
      patternArb,
      channelArb,
      (p, c) => matches(p, c) === reference(p, c),
    ),
  );
});

Deno.test("subject - covers is sound: a covered pattern only matches covered channels", () => {
  fc.assert(
    fc.property(
      patternArb,
      patternArb,
      fc.array(channelArb, { maxLength: 20 }),
      (o, i, chans) => {
        if (!covers(o, i)) return;
        for (const c of chans) {
          if (reference(i, c)) {
            assert.ok(
              reference(o, c),
              `${o} ⊇ ${i} at ${c}`,
            );
          }
        }
      },
    ),
  );
});

Deno.test("subject - edge cases of the grammar", () => {
  assert.equal(matches("a.>", "a"), false, "> needs at least one token");
  assert.equal(matches("a.>", "a.b.c"), true);
  assert.equal(matches("a.*", "a.b.c"), false, "* is exactly one token");
  assert.equal(
    matches(">", "$sys.x"),
    false,
    "leading wildcards skip $ namespaces",
  );
  assert.equal(matches("$sys.>", "$sys.x"), true);
  assert.equal(covers("a.>", "a.*.c"), true);
  assert.equal(covers("a.*", "a.>"), false);
  assert.equal(covers("a.*.c", "a.b.c"), true);
  assert.equal(covers("a.b", "a.b"), true, "a literal pattern covers itself");
  assert.equal(covers("a.b", "a.*"), false);
  assert.equal(covers("a.b", "a.b.c"), false);
  for (
    const bad of [
      "",
      "a..b",
      ".a",
      "a.",
      "a b",
      "a*.b",
      "a.>.b",
      "a\tb",
      "x".repeat(256),
    ]
  ) {
    assert.throws(() => parsePattern(bad), CatbusError, JSON.stringify(bad));
  }
  assert.throws(() => parseChannel("a.*"), /wildcard/);
  assert.deepEqual(parseChannel("é.b"), ["é", "b"]);
});

Deno.test("subject trie - duplicate insert and unknown removal are reported", () => {
  const trie = new SubjectTrie<string>();
  assert.equal(trie.insert("a.*", "x"), true);
  assert.equal(trie.insert("a.*", "x"), false);
  assert.equal(trie.remove("a.b", "x"), false);
  assert.equal(trie.remove("q.>", "x"), false);
  assert.deepEqual(trie.match("a.b"), ["x"]);
  assert.equal(trie.remove("a.*", "x"), true);
  assert.deepEqual(trie.match("a.b"), []);
});

Deno.test("subject - a lone surrogate is refused in channels and patterns; whole characters pass", () => {
  for (const bad of ["a\ud800.b", "a.\udc00", "\ud83d"]) {
    assert.throws(() => parseChannel(bad), /lone UTF-16 surrogate/);
    assert.throws(() => parsePattern(`${bad}.>`), /lone UTF-16 surrogate/);
  }
  assert.deepEqual(parseChannel("emoji.\ud83d\ude00"), ["emoji", "😀"]);
});

Deno.test("subject trie - a literal subscribe patches its own channel's cached result only", () => {
  const trie = new SubjectTrie<number>({ cacheSize: 8 });
  trie.insert("a.*", 1);
  assert.deepEqual(trie.match("a.b"), [1]);
  assert.deepEqual(trie.match("a.c"), [1]);
  trie.insert("a.b", 2);
  assert.deepEqual(trie.match("a.b"), [1, 2]);
  assert.deepEqual(trie.match("a.c"), [1]);
  trie.remove("a.b", 2);
  assert.deepEqual(trie.match("a.b"), [1]);
  trie.insert("a.>", 3);
  assert.deepEqual([...trie.match("a.c")].sort(), [1, 3]);
});
