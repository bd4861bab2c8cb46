/**
 * Builds what `npm pack` ships: `@catbus/client` and `@catbus/react` as ES modules with `.d.ts`
 * types (client/dist, react/dist), and the server as two JavaScript bundles that Deno runs from
 * an installed package (dist/server/main.js, dist/cli/main.js).
 *
 *   node bin/deno.mjs run -A tools/build-packages.ts [client] [react] [server] [--no-types]
 *
 * Types come from TypeScript's declaration emit (the `typescript` package); `--no-types` builds
 * the JavaScript alone, for a machine without it (the package then has no `.d.ts`).
 */
import * as esbuild from "esbuild";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { CLIENT_BUNDLE_OPTIONS } from "../src/dialects/native/client-bundle.ts";
import { CONSOLE_FILES } from "../src/server/admin/console-files.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Where `import … from "../../client/mod.ts"` in react/ points: `@catbus/client` once shipped. */
const CLIENT_ENTRY = /(^|\/)client\/mod\.ts$/;

interface PackageBuild {
  folder: string;
  entries: string[];
  /** Bare imports left for the app's own install (peer dependencies). */
  external: string[];
}

const PACKAGES: Record<"client" | "react", PackageBuild> = {
  client: { folder: "client", entries: ["mod.ts", "deno-tcp.ts", "tokens.ts"], external: [] },
  react: { folder: "react", entries: ["mod.ts"], external: ["react", "@catbus/client"] },
};

/** `../../client/mod.ts` from react/ becomes the published `@catbus/client`. */
const clientAsPackage: esbuild.Plugin = {
  name: "catbus-client-as-package",
  setup(build) {
    build.onResolve({ filter: CLIENT_ENTRY }, () => ({ path: "@catbus/client", external: true }));
  },
};

async function buildJs(pkg: PackageBuild): Promise<void> {
  const folder = join(ROOT, pkg.folder);
  await esbuild.build({
    entryPoints: pkg.entries.map((e) => join(folder, e)),
    outdir: join(folder, "dist"),
    outbase: folder,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    external: pkg.external,
    plugins: pkg.folder === "client" ? [] : [clientAsPackage],
    chunkNames: "chunks/[name]-[hash]",
    logLevel: "warning",
  });
}

/** Runs tsc's declaration emit over the package's entries into dist/types. */
async function buildTypes(pkg: PackageBuild): Promise<void> {
  const folder = join(ROOT, pkg.folder);
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  try {
    await Deno.stat(tsc);
  } catch {
    throw new Error(
      "declaration emit needs TypeScript: npm install --save-dev typescript " +
        "(or build with --no-types)",
    );
  }
  const work = await Deno.makeTempDir({ prefix: "catbus-types-" });
  try {
    // Deno's own types, for deno-tcp.ts (the declarations it exports name none of them).
    const denoTypes = join(work, "deno.d.ts");
    const types = await new Deno.Command(Deno.execPath(), { args: ["types"] }).output();
    // Without its references: they would replace tsc's own lib (es2022, dom) with Deno's.
    const declarations = new TextDecoder().decode(types.stdout)
      .split("\n").filter((line) => !line.startsWith("/// <reference")).join("\n");
    await Deno.writeTextFile(denoTypes, declarations);
    const out = join(folder, "dist", "types");
    const config = {
      compilerOptions: {
        declaration: true,
        emitDeclarationOnly: true,
        allowImportingTsExtensions: true,
        module: "esnext",
        moduleResolution: "bundler",
        target: "es2022",
        lib: ["es2024", "dom", "dom.iterable"],
        jsx: "react-jsx",
        strict: true,
        skipLibCheck: true,
        types: [],
        typeRoots: [join(ROOT, "node_modules", "@types")],
        rootDir: ROOT,
        outDir: join(work, "out"),
      },
      files: [denoTypes, ...pkg.entries.map((e) => join(folder, e))],
    };
    const project = join(work, "tsconfig.json");
    await Deno.writeTextFile(project, JSON.stringify(config));
    const run = await new Deno.Command("node", { args: [tsc, "-p", project] }).output();
    if (run.code !== 0) {
      throw new Error(`tsc failed:\n${new TextDecoder().decode(run.stdout)}`);
    }
    await Deno.remove(out, { recursive: true }).catch(() => {});
    await copyDeclarations(join(work, "out"), pkg.folder, out);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/**
 * Copies the package's declarations out of tsc's output tree (which mirrors the repository),
 * with `.ts` imports made `.js` and the client named by its package.
 */
async function copyDeclarations(from: string, folder: string, to: string): Promise<void> {
  const base = join(from, folder);
  for await (const file of walk(base)) {
    if (!file.endsWith(".d.ts")) continue;
    const text = (await Deno.readTextFile(file))
      .replace(
        /(from\s+|import\()(["'])([^"']*client\/mod)\.ts\2/g,
        (_m, head, q, path) =>
          path.startsWith(".") && folder !== "client"
            ? `${head}${q}@catbus/client${q}`
            : `${head}${q}${path}.js${q}`,
      )
      .replace(/(from\s+|import\()(["'])(\.{1,2}\/[^"']*)\.ts\2/g, "$1$2$3.js$2");
    const target = join(to, relative(base, file));
    await Deno.mkdir(dirname(target), { recursive: true });
    await Deno.writeTextFile(target, text);
  }
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else yield path;
  }
}

/**
 * The server's entries as JavaScript: Deno does not run TypeScript from under node_modules. The
 * browser client served at /catbus/client.js goes in prebuilt, so the package needs no client
 * sources (nor esbuild at run time for it); the console's files go in embedded (the package
 * ships no src/).
 */
async function buildServer(): Promise<void> {
  const pkg = JSON.parse(await Deno.readTextFile(join(ROOT, "package.json")));
  const browserClient = (await esbuild.build(CLIENT_BUNDLE_OPTIONS)).outputFiles[0].text;
  const prebuiltClient: esbuild.Plugin = {
    name: "catbus-prebuilt-client",
    setup(build) {
      build.onLoad({ filter: /client-bundle\.ts$/ }, () => ({
        contents: `export const clientBundle = () => Promise.resolve(${
          JSON.stringify(browserClient)
        });`,
        loader: "js",
      }));
    },
  };
  const consoleDir = join(ROOT, "src/server/admin/console");
  const consoleFiles: Record<string, string> = {};
  for (const name of CONSOLE_FILES) {
    consoleFiles[name] = await Deno.readTextFile(join(consoleDir, name));
  }
  const embeddedConsole: esbuild.Plugin = {
    name: "catbus-embedded-console",
    setup(build) {
      build.onLoad({ filter: /console-files\.ts$/ }, () => ({
        contents: `const FILES = ${JSON.stringify(consoleFiles)};\n` +
          `export const CONSOLE_FILES = Object.keys(FILES);\n` +
          "export const consoleFile = (name) => Promise.resolve(new TextEncoder().encode(FILES[name]));",
        loader: "js",
      }));
    },
  };
  await esbuild.build({
    entryPoints: {
      "server/main": join(ROOT, "src/server/main.ts"),
      "cli/main": join(ROOT, "src/cli/main.ts"),
    },
    outdir: join(ROOT, "dist"),
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    mainFields: ["module", "main"],
    external: ["node:*", ...Object.keys(pkg.dependencies ?? {})],
    plugins: [prebuiltClient, embeddedConsole],
    chunkNames: "chunks/[name]-[hash]",
    logLevel: "warning",
  });
}

if (import.meta.main) {
  const args = Deno.args.filter((a) => !a.startsWith("--"));
  const withTypes = !Deno.args.includes("--no-types");
  const targets = args.length ? args : ["client", "react", "server"];
  try {
    for (const target of targets) {
      if (target === "server") {
        await Deno.remove(join(ROOT, "dist"), { recursive: true }).catch(() => {});
        await buildServer();
        continue;
      }
      const pkg = PACKAGES[target as keyof typeof PACKAGES];
      if (!pkg) throw new Error(`unknown package ${target}; expected client, react or server`);
      await Deno.remove(join(ROOT, pkg.folder, "dist"), { recursive: true }).catch(() => {});
      await buildJs(pkg);
      if (withTypes) await buildTypes(pkg);
    }
  } catch (e) {
    console.error((e as Error).message);
    Deno.exitCode = 1;
  } finally {
    await esbuild.stop();
  }
}
