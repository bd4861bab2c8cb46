import { fileURLToPath } from "node:url";

const ENTRY = fileURLToPath(new URL("../../../client/mod.ts", import.meta.url));

let bundle: Promise<string> | undefined;

/**
 * `@catbus/client` as one browser-ready ES module (what `/catbus/client.js` serves), built with
 * esbuild on first request and kept in memory.
 */
export function clientBundle(): Promise<string> {
  return bundle ??= (async () => {
    const esbuild = await import("esbuild");
    try {
      const result = await esbuild.build({
        entryPoints: [ENTRY],
        bundle: true,
        format: "esm",
        platform: "browser",
        target: "es2022",
        minify: true,
        sourcemap: false,
        write: false,
        legalComments: "none",
      });
      return result.outputFiles[0].text;
    } finally {
      await esbuild.stop();
    }
  })().catch((e) => {
    bundle = undefined; // try again on the next request
    throw e;
  });
}
