/**
 * The packaging files (Dockerfile, compose.yaml, packaging/catbusd.service) cannot be run on a
 * machine without Docker or a running systemd; they are checked as far as they can be: they
 * parse, and what they run is what `npm start` and CI run.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { within } from "./helpers/deadline.ts";

const read = (path: string) => Deno.readTextFile(new URL(`../${path}`, import.meta.url));
const READY = "fetch('http://127.0.0.1:4433/ready')";

Deno.test("packaging - the Dockerfile: multi-stage, non-root, a data volume, a healthcheck on /ready, runs what npm start runs", async () => {
  const lines = (await read("Dockerfile")).split("\n").filter((l) => l && !l.startsWith("#"));
  const instructions = lines.filter((l) => /^[A-Z]+ /.test(l)).map((l) => l.split(" ")[0]);
  assert.equal(instructions.filter((i) => i === "FROM").length, 2, "two stages");
  assert.ok(lines.some((l) => /^COPY --from=build /.test(l)));
  const user = lines.find((l) => l.startsWith("USER "));
  assert.equal(user, "USER catbus");
  assert.ok(
    instructions.lastIndexOf("USER") > instructions.lastIndexOf("FROM"),
    "USER in the final stage",
  );
  assert.ok(lines.includes('VOLUME ["/data"]'));
  assert.ok(lines.some((l) => l.includes("CATBUS_DATA=/data")));
  const health = lines.findIndex((l) => l.startsWith("HEALTHCHECK "));
  assert.ok(lines[health + 1].includes(READY), "healthcheck on /ready");
  const pkg = JSON.parse(await read("package.json"));
  assert.equal(pkg.scripts.start, "node bin/catbusd.mjs");
  assert.equal(
    lines.find((l) => l.startsWith("CMD ")),
    'CMD ["node", "bin/catbusd.mjs"]',
    "what npm start runs",
  );
  // The Node that runs `npm start` and CI here.
  const node = await new Deno.Command("node", { args: ["--version"] }).output();
  const nodeMajor = new TextDecoder().decode(node.stdout).trim().slice(1).split(".")[0];
  for (const from of lines.filter((l) => l.startsWith("FROM "))) {
    assert.match(from, new RegExp(`^FROM node:${nodeMajor}-`), "the Node major CI runs");
  }
  for (const copied of ["bin", "client", "src", "deno.json", "package-lock.json"]) {
    assert.ok(lines.some((l) => l.startsWith("COPY ") && l.includes(copied)), copied);
  }
});

/** The Dockerfile's instructions by stage, continuation lines joined. */
async function dockerStages(): Promise<{ op: string; args: string }[][]> {
  const joined = (await read("Dockerfile")).replace(/\\\n/g, " ");
  const stages: { op: string; args: string }[][] = [];
  for (const line of joined.split("\n")) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!m || line.startsWith("#")) continue;
    if (m[1] === "FROM") stages.push([]);
    stages.at(-1)!.push({ op: m[1], args: m[2].trim() });
  }
  return stages;
}

/** `KEY=value KEY2=value2` (ENV's form). */
const envPairs = (args: string) =>
  Object.fromEntries([...args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));

Deno.test("packaging - the Dockerfile's build stage copies files that exist and are in the build context; what prune keeps is all the server imports", async () => {
  const [build] = await dockerStages();
  const ignored = (await read(".dockerignore")).split("\n").filter((l) => l && !l.startsWith("#"));
  assert.ok(ignored.includes("node_modules/"), "node_modules is installed in the image, not sent");
  for (const copy of build.filter((i) => i.op === "COPY")) {
    const sources = copy.args.split(/\s+/).slice(0, -1);
    for (const source of sources) {
      await Deno.stat(new URL(`../${source}`, import.meta.url)); // throws when missing
      assert.ok(!ignored.some((i) => source.startsWith(i.replace(/\/$/, ""))), source);
    }
  }
  // The build's type check is part of the one CI runs (`npm run check`).
  const pkg = JSON.parse(await read("package.json"));
  const ciChecks = /deno\.mjs check ([^&]+)/.exec(pkg.scripts.check)![1].trim().split(/\s+/);
  const run = build.find((i) => i.op === "RUN" && i.args.includes("deno.mjs check"))!;
  const checked = /deno\.mjs check ([^&]+)/.exec(run.args)![1].trim().split(/\s+/);
  for (const path of checked) {
    assert.ok(ciChecks.some((dir) => path.startsWith(`${dir}/`)), `${path} is checked by CI`);
  }
  // `npm prune --omit=dev` leaves the dependencies: every package the server and the client
  // import (outside tests) must be one. (The console's React app, .tsx, is built into a static
  // script beforehand and not run by the server.)
  const imported = new Set<string>();
  for (const dir of ["src", "client"]) {
    for await (const path of tsFiles(new URL(`../${dir}/`, import.meta.url))) {
      const text = await Deno.readTextFile(path);
      for (
        const m of text.matchAll(
          /^(?:import|export)[^;]*?from "([^".][^"]*)"|\bimport\("([^".][^"]*)"\)/gm,
        )
      ) {
        const specifier = m[1] ?? m[2];
        const line = text.slice(text.lastIndexOf("\n", m.index) + 1).trimStart();
        // Examples in doc comments import what a user of the package would.
        if (specifier.startsWith("node:") || /^(\*|\/\/)/.test(line)) continue;
        const parts = specifier.split("/");
        imported.add(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]);
      }
    }
  }
  assert.ok(imported.has("prom-client") && imported.has("esbuild"), [...imported].join());
  for (const name of imported) assert.ok(name in pkg.dependencies, `${name} is a dependency`);
});

async function* tsFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name === "dist" || entry.name === "node_modules") continue;
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* tsFiles(url);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) yield url;
  }
}

Deno.test("packaging - the image rehearsed without a daemon: the final stage's files, ENV, user and CMD serve; its HEALTHCHECK passes; STOPSIGNAL drains", async () => {
  const stages = await dockerStages();
  const [build, final] = stages;
  const workdir = build.find((i) => i.op === "WORKDIR")!.args;
  assert.ok(
    final.some((i) => i.op === "COPY" && i.args === `--from=build ${workdir} ${workdir}`),
    "the final stage takes the build stage's tree",
  );
  const root = await Deno.makeTempDir({ prefix: "catbus-image-" });
  const app = `${root}/app`;
  const data = `${root}/data`;
  await Deno.mkdir(data);
  // The build stage's COPYs, into the image's workdir (node_modules: this checkout's, as npm ci
  // would install it; what prune keeps is checked above).
  for (const copy of build.filter((i) => i.op === "COPY")) {
    const args = copy.args.split(/\s+/);
    const dest = args.at(-1)!;
    for (const source of args.slice(0, -1)) {
      const target = dest.endsWith("/")
        ? `${app}/${source}`
        : `${app}/${dest.replace(/^\.\//, "")}`;
      await Deno.mkdir(target.replace(/\/[^/]+$/, ""), { recursive: true });
      const cp = await new Deno.Command("cp", {
        args: ["-r", new URL(`../${source}`, import.meta.url).pathname, target],
      }).output();
      assert.ok(cp.success, new TextDecoder().decode(cp.stderr));
    }
  }
  await Deno.symlink(new URL("../node_modules", import.meta.url).pathname, `${app}/node_modules`);
  const env: Record<string, string> = {};
  for (const e of final.filter((i) => i.op === "ENV")) Object.assign(env, envPairs(e.args));
  assert.equal(env.CATBUS_DATA, "/data");
  const user = final.find((i) => i.op === "USER")!.args;
  // The image's ENV with its paths moved under the temp root and free ports; as an unprivileged
  // user (when this test may switch to one) that cannot write to the application's files.
  const asUser = Deno.uid() === 0
    ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    : [];
  if (asUser.length) {
    await new Deno.Command("chmod", { args: ["-R", "a+rX,go-w", root] }).output();
    await new Deno.Command("chown", { args: ["nobody:nogroup", data] }).output();
  } else {
    console.log(`SKIPPED running as an unprivileged user (as USER ${user}): not root`);
  }
  const imageEnv = Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, v.replace(/^\/data/, data)]),
  );
  const cmd = JSON.parse(final.find((i) => i.op === "CMD")!.args) as string[];
  const child = new Deno.Command(asUser[0] ?? cmd[0], {
    args: [...asUser.slice(1), ...(asUser.length ? cmd : cmd.slice(1))],
    cwd: app,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH")!,
      HOME: data,
      ...imageEnv,
      CATBUS_BIND: "127.0.0.1:0",
      CATBUS_TCP_BIND: "127.0.0.1:0",
      CATBUS_ADMIN_KEY: "image-admin-key",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reading = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) log += text;
  })();
  try {
    const port = await within(
      (async () => {
        for (;;) {
          const m = / catbusd listening http=http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
          if (m) return m[1];
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })(),
      60_000,
      "the image's CMD listening",
    );
    assert.match(log, new RegExp(`"data":"${data}"`), "CATBUS_DATA from ENV");
    // The HEALTHCHECK's own command, pointed at the port this run got.
    const health = final.find((i) => i.op === "HEALTHCHECK")!.args;
    const check = JSON.parse(health.slice(health.indexOf("CMD ") + 4)) as string[];
    const probe = await new Deno.Command(check[0], {
      args: check.slice(1).map((a) => a.replace(":4433/", `:${port}/`)),
    }).output();
    assert.equal(probe.code, 0, "the healthcheck passes");
    for (const path of ["/console", "/catbus/client.js", "/metrics"]) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      await r.body?.cancel();
      assert.equal(r.status, 200, path);
    }
    assert.equal(final.find((i) => i.op === "STOPSIGNAL")!.args, "SIGTERM");
    child.kill("SIGTERM");
    assert.equal((await within(child.status, 15_000, "catbusd draining")).code, 0);
    await reading;
    assert.match(log, /catbusd stopped reason=SIGTERM/);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("packaging - compose.yaml: catbusd with PostgreSQL and Valkey, a data volume and a healthcheck on /ready", async () => {
  const compose = parseYaml(await read("compose.yaml"));
  assert.deepEqual(Object.keys(compose.services).sort(), ["catbusd", "postgres", "valkey"]);
  const catbusd = compose.services.catbusd;
  assert.equal(catbusd.build, ".");
  assert.ok(catbusd.volumes.includes("catbus-data:/data"));
  assert.ok(catbusd.healthcheck.test.join(" ").includes(READY));
  assert.deepEqual(Object.keys(catbusd.depends_on).sort(), ["postgres", "valkey"]);
  for (const name of ["postgres", "valkey"]) assert.ok(compose.services[name].healthcheck, name);
  assert.ok("catbus-data" in compose.volumes);
  assert.deepEqual(catbusd.ports, ["4433:4433/tcp", "4433:4433/udp", "4434:4434/tcp"]);
});

/** A systemd unit file as sections of key → values. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = sections[header[1]] = {};
      continue;
    }
    const [key, ...value] = line.split("=");
    assert.ok(section && value.length, `not a key=value line in a section: ${line}`);
    (section[key] ??= []).push(value.join("="));
  }
  return sections;
}

Deno.test("packaging - catbusd.service: runs the launcher as an unprivileged user, sandboxed, drains on SIGTERM", async () => {
  const text = await read("packaging/catbusd.service");
  const unit = parseUnit(text);
  const service = unit.Service;
  assert.deepEqual(service.Type, ["simple"]);
  assert.deepEqual(service.User, ["catbus"]);
  assert.match(service.ExecStart[0], /^\/usr\/bin\/node \/opt\/catbus\/bin\/catbusd\.mjs /);
  assert.deepEqual(service.KillSignal, ["SIGTERM"]);
  for (
    const key of [
      "NoNewPrivileges",
      "ProtectSystem",
      "ProtectHome",
      "PrivateTmp",
      "CapabilityBoundingSet",
      "SystemCallFilter",
    ]
  ) {
    assert.ok(service[key], key);
  }
  assert.equal(service.MemoryDenyWriteExecute, undefined, "V8's JIT needs writable code pages");
  assert.deepEqual(unit.Install.WantedBy, ["multi-user.target"]);
  // systemd's own check, where systemd is installed.
  const analyze = await new Deno.Command("systemd-analyze", { args: ["--version"] }).output().catch(
    () => undefined,
  );
  if (!analyze?.success) {
    console.log("SKIPPED systemd-analyze verify: no systemd-analyze on this machine");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "catbus-unit-" });
  try {
    await Deno.writeTextFile(`${dir}/catbusd.service`, text);
    const out = await new Deno.Command("systemd-analyze", {
      args: ["verify", `${dir}/catbusd.service`],
    }).output();
    const said = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, said);
    assert.doesNotMatch(said, /catbusd\.service:\d+/, "no warning about a line of the unit");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
