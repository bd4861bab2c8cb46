import assert from "node:assert/strict";
import { crc32c } from "./crc32c.ts";

Deno.test("log - crc32c matches the standard check values", () => {
  const text = (s: string) => new TextEncoder().encode(s);
  assert.equal(crc32c(text("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(text("")), 0);
  const b = text("xx123456789yy");
  assert.equal(crc32c(b, 2, 11), 0xe3069283);
});
