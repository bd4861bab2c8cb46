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

/** Runs the harness with `args`; undefined (and the test step skipped) without NATS and Redis. */
async function harness(t: Deno.TestContext, args: string[]): Promise<string | undefined> {
  const peers = (await reachable(4222)) && (await reachable(6379));
  if (!peers) {
    if (Deno.env.get("CI") === "true") assert.fail("NATS (4222) and Redis (6379) must be up in CI");
    console.log("SKIPPED: bench smoke test needs the local NATS and Redis");
    await t.step({ name: "skipped: NATS or Redis unreachable", ignore: true, fn: () => {} });
    return;
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", RUN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("bench - the harness runs every scenario in --quick mode", async (t) => {
  const text = await harness(t, ["--quick"]);
  if (text === undefined) return;
  for (const heading of ["## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6."]) {
    assert.ok(text.includes(heading), `missing ${heading}`);
  }
  assert.doesNotMatch(text, /NaN/);
});

Deno.test("bench - --only runs just the scenarios it names", async (t) => {
  const text = await harness(t, ["--quick", "--only", "3"]);
  if (text === undefined) return;
  assert.match(text, /## 3\./);
  for (const heading of ["## 1.", "## 2.", "## 4.", "## 5.", "## 6.", "## 8."]) {
    assert.ok(!text.includes(heading), `${heading} was run`);
  }
});
