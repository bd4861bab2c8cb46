import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { launchChromium } from "./helpers/browser.ts";
import { nativeClient } from "./helpers/native.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";

type Kind = "webtransport" | "websocket" | "sse";

/**
 * Loads the client from the server into a page (served by catbusd itself, so the page is a
 * secure context on 127.0.0.1), connects with one transport forced and subscribes.
 */
async function openPage(page: Page, server: TestServer, kind: Kind) {
  await page.goto(`${server.httpUrl}/health`);
  return await page.evaluate(async ({ url, token, kind }) => {
    const { CatbusClient, autoTransport } = await import(`${url}/catbus/client.js`);
    const w = globalThis as unknown as Record<string, unknown>;
    const got: unknown[] = [];
    const recoveries: boolean[] = [];
    w.got = got;
    w.recoveries = recoveries;
    const client = new CatbusClient({
      url,
      token,
      reconnectDelay: 100,
      maxReconnectDelay: 500,
      transport: autoTransport({ order: [kind], webtransport: { fetchCertificateHash: true } }),
    });
    w.client = client;
    await client.connect();
    await client.subscribe("room.>", (_c: string, payload: unknown) => got.push(payload), {
      onRecovery: (info: { recovered: boolean }) => recoveries.push(info.recovered),
    });
    await client.publish("room.a", { from: "browser" });
    return client.transportKind as string;
  }, { url: server.httpUrl, token: server.adminKey, kind });
}

for (const kind of ["webtransport", "websocket", "sse"] as const) {
  Deno.test(`browser - Chromium over ${kind}: publishes, receives its own and a Deno client's messages`, async () => {
    const browser = await launchChromium(`browser over ${kind}`);
    if (!browser) return;
    await using server = await startCatbusd();
    try {
      const page = await browser.newPage();
      const used = await openPage(page, server, kind);
      assert.equal(used, kind);
      const deno = await nativeClient(server);
      await deno.publish("room.a", { from: "deno" });
      await page.waitForFunction(() =>
        (globalThis as unknown as { got: unknown[] }).got.length >= 2
      );
      const got = await page.evaluate(() => (globalThis as unknown as { got: unknown[] }).got);
      assert.deepEqual(got, [{ from: "browser" }, { from: "deno" }]);
      await deno.disconnect();
    } finally {
      await browser.close();
    }
  });
}

for (const kind of ["webtransport", "websocket", "sse"] as const) {
  Deno.test(`browser - over ${kind}, the page resumes after a server restart and reports recovered:true`, async () => {
    const browser = await launchChromium(`browser reconnect over ${kind}`);
    if (!browser) return;
    const data = await Deno.makeTempDir({ prefix: "catbus-browser-" });
    let server = await startCatbusd([], { data });
    const port = new URL(server.httpUrl).port;
    try {
      const page = await browser.newPage();
      await openPage(page, server, kind);
      await page.waitForFunction(() =>
        (globalThis as unknown as { got: unknown[] }).got.length >= 1
      );
      await server.stop();
      server = await startCatbusd(["--bind", `127.0.0.1:${port}`], { data });
      // Published while the page is still reconnecting: it must come through the resume.
      const deno = await nativeClient(server);
      await deno.publish("room.a", { from: "after restart" });
      await deno.disconnect();
      await page.waitForFunction(() =>
        (globalThis as unknown as { got: unknown[] }).got.length >= 2
      );
      const result = await page.evaluate(() => {
        const w = globalThis as unknown as { got: unknown[]; recoveries: boolean[] };
        return { got: w.got, recoveries: w.recoveries };
      });
      assert.deepEqual(result.got, [{ from: "browser" }, { from: "after restart" }]);
      assert.deepEqual(result.recoveries, [true]);
    } finally {
      await browser.close();
      await server.stop();
      await Deno.remove(data, { recursive: true });
    }
  });
}

Deno.test("browser - a page on another origin publishes to the Bus listener and reads it with EventSource", async () => {
  const browser = await launchChromium("browser Bus CORS");
  if (!browser) return;
  await using server = await startCatbusd();
  try {
    const page = await browser.newPage();
    // catbusd's HTTP listener and its Bus listener are on different ports: different origins.
    await page.goto(`${server.httpUrl}/health`);
    const got = await page.evaluate(async (bus) => {
      const source = new EventSource(`${bus}/?subject=chat.*&start=newest`);
      // A stream refused for CORS fires error and closes: the test fails instead of waiting.
      const failed = new Promise<never>((_, reject) => {
        source.onerror = () => reject(new Error("EventSource failed (no CORS headers?)"));
      });
      const message = new Promise<string>((resolve) => {
        source.addEventListener("msg", (e) => resolve((e as MessageEvent).data));
      });
      await Promise.race([new Promise((resolve) => (source.onopen = resolve)), failed]);
      const r = await fetch(`${bus}/`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ subject: "chat.room", payload: { text: "hi" } }),
      });
      const id = r.headers.get("x-bus-event-id");
      const data = await Promise.race([message, failed]);
      source.close();
      return { status: r.status, id, data };
    }, server.busUrl);
    assert.equal(got.status, 202);
    assert.match(got.id ?? "", /^e_/, "the event id header is exposed to the page");
    assert.deepEqual(JSON.parse(got.data).payload, { text: "hi" });
  } finally {
    await browser.close();
  }
});
