import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join, relative } from "node:path";

const CLIENT = fileURLToPath(new URL("../client", import.meta.url));
const REACT = fileURLToPath(new URL("../react", import.meta.url));

/** Copies a folder's sources, tests left out (they may use the repo's dev dependencies). */
async function copySources(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const source = join(from, entry.name);
    if (entry.isDirectory) await copySources(source, join(to, entry.name));
    else if (!entry.name.endsWith("_test.ts")) await Deno.copyFile(source, join(to, entry.name));
  }
}

Deno.test("client package - type-checks and bundles alone, and react with it, without the server's src/", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catbus-client-alone-" });
  try {
    const client = join(dir, "client");
    await copySources(CLIENT, client);
    await copySources(REACT, join(dir, "react"));
    await Deno.writeTextFile(
      join(dir, "deno.json"),
      JSON.stringify({ compilerOptions: { strict: true, lib: ["deno.ns", "dom", "esnext"] } }),
    );
    const check = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "client/mod.ts", "client/deno-tcp.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));

    const esbuild = await import("esbuild");
    try {
      for (const entry of ["client/mod.ts", "react/mod.ts"]) {
        const result = await esbuild.build({
          entryPoints: [join(dir, entry)],
          bundle: true,
          format: "esm",
          platform: "browser",
          external: ["react"],
          write: false,
          metafile: true,
          logLevel: "silent",
        });
        assert.ok(result.outputFiles[0].text.includes("CatbusClient"), entry);
        for (const input of Object.keys(result.metafile.inputs)) {
          const path = relative(dir, join(Deno.cwd(), input));
          assert.ok(/^(client|react)\//.test(path), `${entry}'s bundle reached ${input}`);
        }
      }
    } finally {
      await esbuild.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
