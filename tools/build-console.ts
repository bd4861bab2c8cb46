/** Writes the console's script from its React app (run after changing src/server/admin/console/app/). */
import { buildConsole, CONSOLE_BUNDLE } from "../src/server/admin/console-build.ts";

await Deno.writeTextFile(CONSOLE_BUNDLE, await buildConsole());
console.log(`wrote ${CONSOLE_BUNDLE.pathname}`);
