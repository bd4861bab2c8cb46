import assert from "node:assert/strict";
import { buildConsole, CONSOLE_BUNDLE } from "./console-build.ts";

Deno.test("console build - console.js is the current build of the React app", async () => {
  assert.ok(
    (await Deno.readTextFile(CONSOLE_BUNDLE)) === await buildConsole(),
    "src/server/admin/console/console.js is stale: run `node bin/deno.mjs run -A tools/build-console.ts`",
  );
});
