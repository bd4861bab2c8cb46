import assert from "node:assert/strict";
import { Shared } from "./shared.ts";

const tick = () => new Promise((r) => setTimeout(r, 5));

Deno.test("shared - users of one key share one opening; it ends a tick after the last left", async () => {
  const shared = new Shared<string>();
  let opened = 0, stopped = 0;
  const open = () => {
    opened++;
    return () => stopped++;
  };
  const leaveA = shared.use("k", "a", open);
  const leaveB = shared.use("k", "b", open);
  leaveA();
  leaveB();
  // StrictMode: unmounted and mounted again in the same tick keeps the opening.
  const leaveAgain = shared.use("k", "a", open);
  await tick();
  assert.deepEqual([opened, stopped], [1, 0]);
  leaveAgain();
  await tick();
  assert.deepEqual([opened, stopped], [1, 1]);
  shared.use("k", "c", open);
  assert.equal(opened, 2, "a new user after the end opens it again");
});
