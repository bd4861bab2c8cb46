/** Writes catbus.example.yaml from the settings tables (run after adding or changing a setting). */
import { SETTING_GROUPS } from "../src/server/config.ts";
import { exampleConfig } from "../src/server/example-config.ts";

const path = new URL("../catbus.example.yaml", import.meta.url);
await Deno.writeTextFile(path, exampleConfig(SETTING_GROUPS));
console.log(`wrote ${path.pathname}`);
