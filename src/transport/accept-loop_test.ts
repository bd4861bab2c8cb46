import assert from "node:assert/strict";
import { acceptLoop } from "./accept-loop.ts";

Deno.test("accept loop - failed accepts are reported once per run, retried, and the loop goes on", async () => {
  const outcomes = ["fail", "fail", "fail", 1, "fail", 2, "closed"];
  const served: number[] = [];
  const failing: string[] = [];
  const recovered: number[] = [];
  await acceptLoop(
    () => {
      const next = outcomes.shift();
      if (next === "fail") return Promise.reject(new Error("Too many open files (os error 24)"));
      if (next === "closed") return Promise.reject(new Deno.errors.BadResource("closed"));
      return Promise.resolve(next as number);
    },
    (conn) => served.push(conn),
    { failing: (e) => failing.push(e.message), recovered: (n) => recovered.push(n) },
  );
  assert.deepEqual(served, [1, 2]);
  assert.deepEqual(failing, [
    "Too many open files (os error 24)",
    "Too many open files (os error 24)",
  ]);
  assert.deepEqual(recovered, [3, 1]);
});
