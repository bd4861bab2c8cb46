import assert from "node:assert/strict";
import { streamDirName } from "./stream-store.ts";

Deno.test("stream store - directory names: safe names as before, long or odd ones hashed", () => {
  assert.equal(streamDirName("orders"), "orders");
  assert.equal(streamDirName("$sys"), "%24sys");
  assert.equal(streamDirName("ü".repeat(42)), "%C3%BC".repeat(42)); // 252 characters: as before
  const long = streamDirName("ü".repeat(60));
  assert.match(long, /^#[0-9a-f]{64}$/);
  assert.notEqual(long, streamDirName("ü".repeat(59) + "ä"));
  assert.match(streamDirName("a\ud800"), /^#[0-9a-f]{64}$/);
  assert.notEqual(streamDirName("a\ud800"), streamDirName("a\ud801"));
});
