/**
 * How the console's React app (console/app/) becomes console/console.js, the one script the page
 * loads: an esbuild bundle with React in production mode. The bundle is committed (written by
 * tools/build-console.ts, checked current by console-build_test.ts), so catbusd serves static files
 * and needs neither React nor esbuild at run time (React is a development dependency only).
 */
import type { BuildOptions } from "esbuild";
import { fileURLToPath } from "node:url";

export const CONSOLE_BUNDLE = new URL("./console/console.js", import.meta.url);

export const CONSOLE_BUILD_OPTIONS = {
  entryPoints: [fileURLToPath(new URL("./console/app/main.tsx", import.meta.url))],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  jsx: "automatic",
  minify: true,
  sourcemap: false,
  write: false,
  legalComments: "none",
  define: { "process.env.NODE_ENV": '"production"' },
  banner: { js: "// Built from console/app/ by tools/build-console.ts; do not edit." },
} as const satisfies BuildOptions;

/** The bundle's text. */
export async function buildConsole(): Promise<string> {
  const esbuild = await import("esbuild");
  try {
    return (await esbuild.build(CONSOLE_BUILD_OPTIONS)).outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
}
