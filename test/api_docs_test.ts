/**
 * The API reference the README links to is generated from the doc comments by
 * `npm run docs:api`; this runs that script's command into a temporary folder.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

Deno.test("api docs - npm run docs:api builds the reference of the client, its tokens and the hooks", async () => {
  const pkg = JSON.parse(await Deno.readTextFile(`${ROOT}package.json`));
  const script: string = pkg.scripts["docs:api"];
  const args = script.replace(/^node bin\/deno\.mjs /, "").split(" ");
  const out = await Deno.makeTempDir({ prefix: "catbus-api-docs-" });
  try {
    const built = await new Deno.Command(Deno.execPath(), {
      args: args.map((a) => a.startsWith("--output=") ? `--output=${out}` : a),
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(built.code, 0, new TextDecoder().decode(built.stderr));
    const pages = await allText(out);
    assert.ok(pages.has("index.html"), [...pages.keys()].join(", "));
    const mentions = (word: string) => [...pages.values()].some((text) => text.includes(word));
    assert.ok(mentions("usePresence"), "the hooks are documented");
    assert.ok(mentions("mintToken"), "the tokens entry is documented");
    assert.ok(mentions("history"), "the client's history is documented");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/** Every file under `dir` (relative path → text). */
async function allText(dir: string, prefix = ""): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const entry of Deno.readDir(`${dir}/${prefix}`)) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) {
      for (const [p, text] of await allText(dir, path)) out.set(p, text);
    } else if (entry.isFile) out.set(path, await Deno.readTextFile(`${dir}/${path}`));
  }
  return out;
}
