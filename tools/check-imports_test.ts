import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  cycles,
  type Graph,
  importsOf,
  layerOf,
  readGraph,
  ROOTS,
  upwardImports,
} from "./check-imports.ts";

const layers = [["low"], ["mid"], ["high", "app"]];
const packages = [{ folder: "app", mayImport: ["app", "low"] }];

Deno.test("import check - reads static imports, resolved, and ignores comments and bare names", () => {
  const source = [
    'import { a } from "./a.ts";',
    "import type {",
    "  B,",
    '} from "../b/b.ts";',
    'export { c } from "./c.ts";',
    'import "./side.ts";',
    'import fc from "fast-check";',
    ' * import { Example } from "./doc-example.ts";',
    "const text = \"import x from './not-code.ts'\";",
  ].join("\n");
  assert.deepEqual(importsOf("mid/m.ts", source), [
    "mid/a.ts",
    "b/b.ts",
    "mid/c.ts",
    "mid/side.ts",
  ]);
});

Deno.test("import check - a file's layer is its longest folder prefix", () => {
  assert.equal(layerOf("low/x.ts", layers), 0);
  assert.equal(layerOf("high/deep/x.ts", layers), 2);
  assert.equal(layerOf("lowish/x.ts", layers), undefined);
  assert.equal(layerOf("app/shared/x.ts", [["app/shared"], ["app"]]), 0);
});

Deno.test("import check - finds upward imports and package escapes", () => {
  const graph: Graph = new Map([
    ["low/l.ts", ["mid/m.ts"]],
    ["mid/m.ts", ["low/l.ts"]],
    ["high/h.ts", ["mid/m.ts", "app/a.ts"]],
    ["app/a.ts", ["low/l.ts", "mid/m.ts"]],
  ]);
  assert.deepEqual(upwardImports(graph, layers, packages), [
    "low/l.ts → mid/m.ts (low may not import mid/m.ts)",
    "app/a.ts → mid/m.ts (app/ ships alone: it may import only app, low)",
  ]);
});

Deno.test("import check - reports each cycle once, type-only imports included", () => {
  const graph: Graph = new Map([
    ["a.ts", ["b.ts"]],
    ["b.ts", ["c.ts", "d.ts"]],
    ["c.ts", ["a.ts"]],
    ["d.ts", ["d2.ts"]],
    ["d2.ts", []],
    ["e.ts", ["a.ts"]],
  ]);
  assert.deepEqual(cycles(graph), [["a.ts", "b.ts", "c.ts", "a.ts"]]);
  graph.set("d2.ts", ["d.ts"]);
  assert.deepEqual(cycles(graph), [["a.ts", "b.ts", "c.ts", "a.ts"], ["d.ts", "d2.ts", "d.ts"]]);
  assert.deepEqual(cycles(new Map([["x.ts", ["y.ts"]], ["y.ts", []]])), []);
});

Deno.test("import check - src, client and react have no cycle and every import looks down", async () => {
  const graph = await readGraph(fileURLToPath(new URL("..", import.meta.url)), ROOTS);
  assert.ok(graph.has("client/shared/frame.ts"), "the repository's files are read");
  assert.deepEqual(upwardImports(graph), []);
  assert.deepEqual(cycles(graph), []);
});
