import assert from "node:assert/strict";
import { parseLiveBatch } from "./live-batch.ts";

const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(
    parts.flatMap((p) => typeof p === "string" ? [...new TextEncoder().encode(p)] : p),
  );

Deno.test("a live batch: its head and each message's position and bytes, newlines inside too", () => {
  const batch = parseLiveBatch(bytes("ab12 3 2\n", "4 1000 3\n", [10, 0, 255], "5 1001 0\n"));
  assert.deepEqual(
    { ...batch, entries: batch.entries.map((e) => ({ ...e, data: [...e.data] })) },
    {
      epoch: "ab12",
      base: 3,
      firstSeq: 2,
      entries: [{ seq: 4, time: 1000, data: [10, 0, 255] }, { seq: 5, time: 1001, data: [] }],
    },
  );
});

Deno.test("a truncated live batch is refused", () => {
  assert.throws(() => parseLiveBatch(bytes("ab12 3 2\n", "4 1000 9\n", [1, 2])), /truncated/);
  assert.throws(() => parseLiveBatch(bytes("ab12 3 2")), /truncated/);
});
