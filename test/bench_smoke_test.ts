import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const RUN = fileURLToPath(new URL("../bench/run.ts", import.meta.url));

async function reachable(port: number) {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("bench - the harness runs every scenario in --quick mode", async (t) => {
  const peers = (await reachable(4222)) && (await reachable(6379));
  if (!peers) {
    if (Deno.env.get("CI") === "true") assert.fail("NATS (4222) and Redis (6379) must be up in CI");
    console.log("SKIPPED: bench smoke test needs the local NATS and Redis");
    await t.step({ name: "skipped: NATS or Redis unreachable", ignore: true, fn: () => {} });
    return;
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", RUN, "--quick"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  for (const heading of ["## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6."]) {
    assert.ok(text.includes(heading), `missing ${heading}`);
  }
  assert.doesNotMatch(text, /NaN/);
});
