/**
 * The packages as an app gets them: built (tools/build-packages.ts), packed with `npm pack`, and
 * installed from the local tarballs (no registry holds them; their own dependencies come from
 * npm's cache first) into fresh temporary projects.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

export interface Packed {
  dir: string;
  /** Tarball paths. */
  client: string;
  react: string;
  server: string;
  /** Whether the packages carry `.d.ts` types (the build needs the `typescript` package). */
  types: boolean;
}

/** Runs a command; throws with its output unless it exits 0. Returns stdout. */
export async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const out = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited ${out.code}:\n${decode(out.stdout)}${
        decode(out.stderr)
      }`,
    );
  }
  return decode(out.stdout);
}

export const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/** Where TypeScript would be; without it the packages are built with `--no-types`. */
export const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

let packed: Promise<Packed> | undefined;

/** Builds and packs the three packages once per test run. */
export function packAll(): Promise<Packed> {
  return packed ??= (async () => {
    const types = await exists(TSC);
    if (!types) {
      console.log(
        "SKIPPED .d.ts emit: the typescript package is not installed; packages are built without types",
      );
    }
    await run(Deno.execPath(), [
      "run",
      "-A",
      join(ROOT, "tools/build-packages.ts"),
      ...(types ? [] : ["--no-types"]),
    ]);
    const dir = await Deno.makeTempDir({ prefix: "catbus-packed-" });
    const pack = async (folder: string) => {
      const out = await run("npm", [
        "pack",
        "--ignore-scripts",
        "--json",
        "--pack-destination",
        dir,
      ], {
        cwd: join(ROOT, folder),
      });
      return join(dir, JSON.parse(out)[0].filename);
    };
    return {
      dir,
      server: await pack("."),
      client: await pack("client"),
      react: await pack("react"),
      types,
    };
  })();
}

/** The files in a tarball, without the leading `package/`. */
export async function tarballFiles(tarball: string): Promise<string[]> {
  const out = await run("tar", ["tzf", tarball]);
  return out.split("\n").filter(Boolean).map((f) => f.replace(/^package\//, ""));
}

/** A fresh project with these dependencies: tarballs, and registry packages from npm's cache first. */
export async function installProject(
  dependencies: Record<string, string>,
  files: Record<string, string> = {},
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "catbus-app-" });
  await Deno.writeTextFile(
    join(dir, "package.json"),
    JSON.stringify({ name: "catbus-app", private: true, type: "module", dependencies }),
  );
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(join(dir, name), text);
  }
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], {
    cwd: dir,
  });
  return dir;
}

/** The version of a dependency the repository itself installed (so npm's cache has it). */
export async function installedVersion(name: string): Promise<string> {
  const pkg = JSON.parse(
    await Deno.readTextFile(join(ROOT, "node_modules", name, "package.json")),
  );
  return pkg.version;
}
