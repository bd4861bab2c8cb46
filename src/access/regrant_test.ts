import assert from "node:assert/strict";
import type { Principal } from "../auth/grants.ts";
import { type GrantedRead, regrant } from "./regrant.ts";

const principal = (): Principal => ({
  clientId: "c",
  kind: "role",
  grants: [{ permission: "read", pattern: "docs.>" }, { permission: "read", pattern: "jobs.>" }],
});

Deno.test("regrant - the principal takes the new grants; only reads they no longer cover end", () => {
  const p = principal();
  const reads: GrantedRead[] = [
    { pattern: "docs.>" },
    { pattern: "jobs.a" },
    { pattern: "jobs.>", consumer: "worker" },
  ];
  const ended: { read: GrantedRead; code: string; message: string }[] = [];
  regrant(
    p,
    [{ permission: "read", pattern: "docs.>" }],
    reads,
    (read, error) => ended.push({ read, code: error.code, message: error.clientMessage }),
  );
  assert.deepEqual(p.grants, [{ permission: "read", pattern: "docs.>" }]);
  assert.deepEqual(ended.map((e) => e.read), [reads[1], reads[2]]);
  assert.ok(ended.every((e) => e.code === "revoked"));
  assert.match(ended[0].message, /"jobs\.a" was revoked; this subscription has ended/);
  assert.match(ended[1].message, /"jobs\.>" was revoked; consuming "worker" has ended/);
});
