import assert from "node:assert/strict";
import { join } from "node:path";
import { ChannelPurges } from "./channel-purges.ts";

Deno.test("channel purges - tombstones survive a reopen; saves made at once all land", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catbus-purges-" });
  try {
    const purges = await ChannelPurges.open(dir);
    assert.equal(purges.covers("ns.a", 1), false);
    await Promise.all([
      purges.add("ns.a", 3),
      purges.add("ns.b", 1),
      purges.add("ns.a", 5),
      purges.add("ns.a", 4), // older: changes nothing
    ]);
    const reopened = await ChannelPurges.open(dir);
    assert.deepEqual(
      [reopened.covers("ns.a", 5), reopened.covers("ns.a", 6), reopened.covers("ns.b", 1)],
      [true, false, true],
    );
    await reopened.forgetBefore(2); // retention dropped every record up to 1
    const after = await ChannelPurges.open(dir);
    assert.deepEqual([after.size, after.covers("ns.a", 5), after.covers("ns.b", 1)], [
      1,
      true,
      false,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("channel purges - a damaged file stops the open, saying what it holds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catbus-purges-" });
  try {
    await Deno.writeTextFile(join(dir, "purges.json"), '{"ns.a": "x"}');
    await assert.rejects(ChannelPurges.open(dir), /purges\.json is damaged .*deleted topics/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
