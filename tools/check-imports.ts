/**
 * The layer check (`npm run check`): reads the static imports of every .ts file under the given
 * roots, and fails on an import cycle or on an import from a lower layer to a higher one.
 * The allowed order is docs/architecture.md's "Layer order"; LAYERS below is the same list.
 */
import { dirname, join, normalize, relative } from "node:path";

/** The folders checked. */
export const ROOTS = ["src", "client", "react"] as const;

/** Lowest first: a file may import its own layer and the ones before it. */
export const LAYERS: readonly (readonly string[])[] = [
  ["client/shared"],
  ["src/core"],
  ["src/connectors"],
  ["src/auth"],
  ["src/log"],
  ["src/streams"],
  ["src/access"],
  ["src/protocol"],
  ["src/transport"],
  ["src/sm"],
  ["src/dialects"],
  ["src/server"],
  ["src/cli", "client"],
  ["react"],
];

/** Packages that ship on their own: they import only from the folders listed. */
export const PACKAGES: readonly { folder: string; mayImport: readonly string[] }[] = [
  { folder: "client", mayImport: ["client"] },
  { folder: "react", mayImport: ["react", "client"] },
];

const within = (path: string, folder: string) => path === folder || path.startsWith(folder + "/");

/** A file's layer: the longest folder prefix in LAYERS, or undefined (tests, tools). */
export function layerOf(path: string, layers = LAYERS): number | undefined {
  let best: { rank: number; length: number } | undefined;
  layers.forEach((folders, rank) => {
    for (const folder of folders) {
      if (within(path, folder) && folder.length > (best?.length ?? -1)) {
        best = { rank, length: folder.length };
      }
    }
  });
  return best?.rank;
}

// `import … from "x"`, `export … from "x"` and `import "x"` at the start of a line; the part
// between keyword and `from` has no quote or semicolon, so it cannot run across other code.
const FROM = /^[ \t]*(?:import|export)\s[^;'"]*?\bfrom\s*["']([^"']+)["']/gm;
const BARE = /^[ \t]*import\s*["']([^"']+)["']/gm;

/** The relative specifiers a module imports, resolved against its own path. */
export function importsOf(path: string, source: string): string[] {
  const found = new Set<string>();
  for (const pattern of [FROM, BARE]) {
    for (const m of source.matchAll(pattern)) {
      if (m[1].startsWith(".")) found.add(normalize(join(dirname(path), m[1])));
    }
  }
  return [...found];
}

export type Graph = Map<string, string[]>;

/** Imports that go up the layer order or out of a package: "from → to (why)". */
export function upwardImports(
  graph: Graph,
  layers = LAYERS,
  packages = PACKAGES,
): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const own = layerOf(from, layers);
    if (own === undefined) continue;
    const pkg = packages.find((p) => within(from, p.folder));
    for (const to of targets) {
      const their = layerOf(to, layers);
      if (their === undefined || their > own) {
        out.push(`${from} → ${to} (${layers[own].join(", ")} may not import ${to})`);
      } else if (pkg && !pkg.mayImport.some((folder) => within(to, folder))) {
        out.push(
          `${from} → ${to} (${pkg.folder}/ ships alone: it may import only ${
            pkg.mayImport.join(", ")
          })`,
        );
      }
    }
  }
  return out;
}

/** Each cycle found by a depth-first walk, as the files around it (first file repeated last). */
export function cycles(graph: Graph): string[][] {
  const found: string[][] = [];
  const seen = new Set<string>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") {
        const cycle = stack.slice(stack.indexOf(next));
        const key = [...cycle].sort().join(" ");
        if (!seen.has(key)) {
          seen.add(key);
          found.push([...cycle, next]);
        }
      } else if (!state.has(next) && graph.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory && entry.name !== "node_modules") yield* tsFiles(path);
    // Tests may import fixtures from anywhere, and nothing imports a test.
    else if (entry.isFile && entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
      yield path;
    }
  }
}

/** The import graph of the .ts files under `roots`, paths relative to `base`. */
export async function readGraph(base: string, roots: readonly string[]): Promise<Graph> {
  const graph: Graph = new Map();
  for (const root of roots) {
    for await (const file of tsFiles(join(base, root))) {
      const path = relative(base, file);
      graph.set(path, importsOf(path, await Deno.readTextFile(file)));
    }
  }
  return graph;
}

if (import.meta.main) {
  const base = join(dirname(new URL(import.meta.url).pathname), "..");
  const graph = await readGraph(base, ROOTS);
  const problems = [
    ...upwardImports(graph).map((line) => `upward import: ${line}`),
    ...cycles(graph).map((cycle) => `import cycle: ${cycle.join(" → ")}`),
  ];
  for (const line of problems) console.error(line);
  if (problems.length) {
    console.error(`${problems.length} layering problem(s); the order is in docs/architecture.md`);
    Deno.exit(1);
  }
  console.log(`imports: ${graph.size} files, no cycle, every import looks down`);
}
