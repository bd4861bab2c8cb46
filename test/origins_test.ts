/**
 * --allowed-origins: which pages on other origins may use the HTTP listener (SSE + POST, the
 * client bundle, the certificate hash, WebSocket).
 */
import assert from "node:assert/strict";
import { launchChromium } from "./helpers/browser.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { nativeClient } from "./helpers/native.ts";

const APP = "http://app.example";
const EVIL = "http://evil.example";

const get = (server: TestServer, path: string, origin: string, init: RequestInit = {}) =>
  fetch(`${server.httpUrl}${path}`, {
    ...init,
    headers: { origin, ...init.headers as Record<string, string> },
  });

/** The status line of a WebSocket upgrade sent with `origin` (fetch cannot send one). */
async function upgradeStatus(server: TestServer, origin: string): Promise<string> {
  const { hostname, port } = new URL(server.httpUrl);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    await conn.write(new TextEncoder().encode(
      `GET /ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        `Sec-WebSocket-Version: 13\r\nOrigin: ${origin}\r\n\r\n`,
    ));
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}

Deno.test("origins - by default any page may load the client and use the listener", async () => {
  await using server = await startCatbusd();
  const bundle = await get(server, "/catbus/client.js", EVIL);
  assert.equal(bundle.headers.get("access-control-allow-origin"), "*");
  await bundle.body?.cancel();
  assert.match(await upgradeStatus(server, EVIL), / 101 /);
});

Deno.test("origins - --allowed-origins: listed origins get CORS, others are refused on /sse and /ws", async () => {
  await using server = await startCatbusd(["--allowed-origins", APP]);
  const allowed = await get(server, "/catbus/client.js", APP);
  assert.equal(allowed.headers.get("access-control-allow-origin"), APP);
  await allowed.body?.cancel();
  const other = await get(server, "/catbus/client.js", EVIL);
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  await other.body?.cancel();

  const preflight = await get(server, "/sse/x", APP, {
    method: "OPTIONS",
    headers: { "access-control-request-method": "POST" },
  });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get("access-control-allow-headers")!, /catbus-session-secret/);
  const refusedPreflight = await get(server, "/sse/x", EVIL, { method: "OPTIONS" });
  assert.equal(refusedPreflight.status, 403);
  assert.match((await refusedPreflight.json()).message, /not in --allowed-origins/);

  const sse = await get(server, "/sse", EVIL);
  assert.equal(sse.status, 403);
  await sse.body?.cancel();
  assert.match(await upgradeStatus(server, EVIL), / 403 /);
  assert.match(await upgradeStatus(server, APP), / 101 /);
  // Clients that send no Origin (servers, the CLI) are not affected.
  const tcp = await nativeClient(server);
  await tcp.disconnect();
});

Deno.test("origins - a page on an allowed origin uses SSE + POST cross-origin", async () => {
  const browser = await launchChromium("origins cross-origin SSE");
  if (!browser) return;
  const page = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response("<!doctype html><title>app</title>", {
        headers: { "content-type": "text/html" },
      }),
  );
  const origin = `http://127.0.0.1:${page.addr.port}`;
  await using server = await startCatbusd(["--allowed-origins", origin]);
  try {
    const tab = await browser.newPage();
    await tab.goto(origin);
    const got = await tab.evaluate(async ({ url, token }) => {
      const { CatbusClient, autoTransport } = await import(`${url}/catbus/client.js`);
      const client = new CatbusClient({ url, token, transport: autoTransport({ order: ["sse"] }) });
      await client.connect();
      const received = new Promise((resolve) =>
        client.subscribe("x.>", (_c: string, p: unknown) => resolve(p))
      );
      await client.publish("x.y", "cross-origin");
      const value = await received;
      const kind = client.transportKind;
      await client.disconnect();
      return { value, kind };
    }, { url: server.httpUrl, token: server.adminKey });
    assert.deepEqual(got, { value: "cross-origin", kind: "sse" });
  } finally {
    await browser.close();
    await page.shutdown();
  }
});
