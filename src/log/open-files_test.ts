import assert from "node:assert/strict";
import { type FileHolder, OpenFiles } from "./open-files.ts";

Deno.test("open files - past the bound the least recently used holder is asked to close", () => {
  const released: string[] = [];
  const holder = (name: string): FileHolder => ({
    release: () => {
      released.push(name);
      return Promise.resolve();
    },
  });
  const files = new OpenFiles(2);
  const [a, b, c] = [holder("a"), holder("b"), holder("c")];
  files.touch(a);
  files.touch(b);
  files.touch(a); // a is now the most recent
  files.touch(c);
  assert.deepEqual(released, ["b"]);
  assert.equal(files.size, 2);
  files.forget(a);
  files.touch(b);
  assert.deepEqual(released, ["b"]);
  assert.equal(files.size, 2);
});
