import type { BuildOptions } from "esbuild";
import { fileURLToPath } from "node:url";

/**
 * The browser build of `client/mod.ts`. The packed server (tools/build-packages.ts) carries it
 * prebuilt, in place of this module.
 */
export const CLIENT_BUNDLE_OPTIONS = {
  entryPoints: [fileURLToPath(new URL("../../../client/mod.ts", import.meta.url))],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: false,
  write: false,
  legalComments: "none",
} as const satisfies BuildOptions;

let bundle: Promise<string> | undefined;

/**
 * `@catbus/client` as one browser-ready ES module (what `/catbus/client.js` serves), built with
 * esbuild on first request and kept in memory.
 */
export function clientBundle(): Promise<string> {
  return bundle ??= (async () => {
    const esbuild = await import("esbuild");
    try {
      const result = await esbuild.build(CLIENT_BUNDLE_OPTIONS);
      return result.outputFiles[0].text;
    } finally {
      await esbuild.stop();
    }
  })().catch((e) => {
    bundle = undefined; // try again on the next request
    throw e;
  });
}
