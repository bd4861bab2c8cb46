/**
 * The packaging files (Dockerfile, compose.yaml, packaging/catbusd.service) cannot be run on a
 * machine without Docker or a running systemd; they are checked as far as they can be: they
 * parse, and what they run is what `npm start` and CI run.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";

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
