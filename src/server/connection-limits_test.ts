import assert from "node:assert/strict";
import { ConnectionLimits } from "./connection-limits.ts";

Deno.test("connection limits - a door stops at its own limit and all doors at the total; slots come back once", () => {
  const logged: string[] = [];
  const limits = new ConnectionLimits(
    3,
    2,
    (_level, message, fields) => logged.push(`${message} ${fields?.door}`),
  );
  const tcp = limits.door("tcp");
  const http = limits.door("http");
  const a = tcp()!;
  tcp()!;
  assert.equal(tcp(), undefined, "the tcp door is full");
  assert.equal(tcp(), undefined);
  const c = http()!;
  assert.equal(http(), undefined, "all doors together are full");
  assert.equal(limits.total, 3);
  a();
  a();
  assert.equal(limits.total, 2, "a slot comes back once");
  assert.ok(tcp());
  c();
  assert.ok(http());
  assert.deepEqual(logged, [
    "connection limit reached: refusing new connections tcp",
    "connection limit reached: refusing new connections http",
  ]);
});
