import * as esbuild from "esbuild";

/**
 * A React app (TSX) with React, the hooks and the client as one ES module, built in memory.
 * Development mode, so that StrictMode's double effects check the hooks' clean-up.
 */
export async function bundleReactApp(
  input: Pick<esbuild.BuildOptions, "entryPoints" | "stdin">,
): Promise<string> {
  try {
    const result = await esbuild.build({
      ...input,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      jsx: "automatic",
      define: { "process.env.NODE_ENV": '"development"' },
      write: false,
      logLevel: "silent",
    });
    return result.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
}
