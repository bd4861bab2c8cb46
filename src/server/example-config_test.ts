import assert from "node:assert/strict";
import { DEFAULTS, resolveConfig, SETTING_GROUPS } from "./config.ts";
import { exampleConfig } from "./example-config.ts";

const PATH = new URL("../../catbus.example.yaml", import.meta.url);

Deno.test("example config - catbus.example.yaml names every setting, as the tables say", async () => {
  const text = await Deno.readTextFile(PATH);
  assert.equal(
    text,
    exampleConfig(SETTING_GROUPS),
    "catbus.example.yaml is stale: run `node bin/deno.mjs run -A tools/example-config.ts`",
  );
});

Deno.test("example config - catbus.example.yaml loads, without warnings, to the defaults", async () => {
  const warnings: string[] = [];
  const config = resolveConfig({
    flags: {},
    env: {},
    yaml: { path: "catbus.example.yaml", text: await Deno.readTextFile(PATH) },
    warn: (m) => warnings.push(m),
  });
  assert.deepEqual(warnings, []);
  const { origins: _o, ...values } = config;
  const { origins: _d, ...defaults } = DEFAULTS;
  assert.deepEqual(values, defaults);
  // Every setting with a default was read from the file, none left to the default.
  for (const [key, origin] of Object.entries(config.origins)) {
    if (key in defaults) assert.match(origin, /^catbus\.example\.yaml: /, key);
  }
});
