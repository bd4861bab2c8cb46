/**
 * What a heap grew by between two V8 heap snapshots of one process, per kind of object:
 *
 *   deno run -R bench/heap-diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot [DIVISOR] [ROWS]
 *
 * Rows are (node type, constructor or name) with the growth in count and self size divided by
 * DIVISOR, e.g. the number of connections opened between the snapshots (bench/idle-connections.ts
 * --snapshot writes them), largest first.
 */
interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

type Groups = Map<string, { count: number; size: number }>;

function groups(snap: Snapshot): Groups {
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [type, name, size] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const out: Groups = new Map();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const t = types[snap.nodes[i + type]];
    let n = snap.strings[snap.nodes[i + name]];
    // Values and code are grouped by type; contexts and strings by their shape, not their id.
    if (t === "number" || t === "code") n = "";
    else if (t.includes("string")) n = n.slice(0, 40).replace(/\d+/g, "N");
    else if (n.startsWith("system / Context")) n = "system / Context";
    const key = `${t}\t${n.slice(0, 60)}`;
    const g = out.get(key) ?? { count: 0, size: 0 };
    g.count++;
    g.size += snap.nodes[i + size];
    out.set(key, g);
  }
  return out;
}

const [before, after, divisor = "1", rows = "40"] = Deno.args;
if (!after) throw new Error("usage: heap-diff.ts BEFORE AFTER [DIVISOR] [ROWS]");
const read = async (file: string) => groups(JSON.parse(await Deno.readTextFile(file)));
const [a, b] = [await read(before), await read(after)];
const div = Number(divisor);
const growth = [...b].map(([key, g]) => {
  const was = a.get(key) ?? { count: 0, size: 0 };
  return { key, count: (g.count - was.count) / div, size: (g.size - was.size) / div };
}).sort((x, y) => y.size - x.size);
console.log(`total: ${growth.reduce((n, g) => n + g.size, 0).toFixed(0)} B`);
for (const g of growth.slice(0, Number(rows))) {
  console.log(`${g.size.toFixed(0).padStart(7)} B ${g.count.toFixed(2).padStart(7)}×  ${g.key}`);
}
