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
    const pages: string[] = [];
    for await (const entry of Deno.readDir(out)) pages.push(entry.name);
    assert.ok(pages.includes("index.html"), pages.join(", "));
    const all = new TextDecoder().decode(
      (await new Deno.Command("grep", { args: ["-rl", "usePresence", out] }).output()).stdout,
    );
    assert.ok(all.length > 0, "the hooks are documented");
    const client = new TextDecoder().decode(
      (await new Deno.Command("grep", { args: ["-rl", "mintToken", out] }).output()).stdout,
    );
    assert.ok(client.length > 0, "the tokens entry is documented");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
