import assert from "node:assert/strict";
import { fromBase64 } from "../client/src/http.ts";
import { launchChromium } from "./helpers/browser.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";

const FRAME_MODULE = new URL("../client/shared/frame.ts", import.meta.url).href;

/**
 * A WebTransport client in a process of its own: it opens a session (and unless `bare` a stream
 * carrying a hello), prints "ready", then waits to be killed without closing anything.
 */
async function vanishingClient(server: TestServer, bare: boolean) {
  const hash = await (await fetch(`${server.httpUrl}/.well-known/catbus/cert-hash`)).json();
  const script = `
    import { encodeFrame, FrameType } from ${JSON.stringify(FRAME_MODULE)};
    const value = Uint8Array.from(atob(${JSON.stringify(hash.value)}), (c) => c.charCodeAt(0));
    const wt = new WebTransport(${
    JSON.stringify(`${server.httpUrl.replace("http:", "https:")}/catbus`)
  },
      { serverCertificateHashes: [{ algorithm: "sha-256", value }] });
    wt.closed.catch(() => {});
    await wt.ready;
    if (!${bare}) {
      const stream = await wt.createBidirectionalStream();
      await stream.writable.getWriter()
        .write(encodeFrame(FrameType.Hello, 1, { version: 1, token: ${
    JSON.stringify(server.adminKey)
  } }));
    }
    console.log("ready");
    setInterval(() => {}, 60_000);
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--unstable-net", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("ready")) {
    const { value, done } = await within(out.read(), 15_000, "the WebTransport client's session");
    if (done) throw new Error(`the WebTransport client exited before its session opened: ${said}`);
    said += value;
  }
  out.cancel();
  return child;
}

/** Opens a WebTransport session, retrying while the server refuses it (its door is full). */
async function admittedSession(server: TestServer, deadlineMs: number) {
  const hash = await (await fetch(`${server.httpUrl}/.well-known/catbus/cert-hash`)).json();
  const url = `${server.httpUrl.replace("http:", "https:")}/catbus`;
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const wt = new WebTransport(url, {
      serverCertificateHashes: [{ algorithm: "sha-256", value: fromBase64(hash.value) }],
    } as WebTransportOptions);
    wt.closed.catch(() => {});
    try {
      await wt.ready;
      return wt;
    } catch {
      // A server that died refuses too: tell the two apart.
      await fetch(`${server.httpUrl}/health`).then((r) => r.body?.cancel(), () => {
        throw new Error("catbusd stopped answering /health while the sessions ended");
      });
      if (Date.now() > deadline) {
        throw new Error(`the vanished sessions still hold their slots after ${deadlineMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

Deno.test("webtransport - peers that vanish (a killed Deno client, a closed Chromium tab) end only their own sessions", async () => {
  const browser = await launchChromium("webtransport vanishing tab");
  // Sessions that vanish end after the idle timeout; each holds one of the door's slots until
  // then, so a new session is admitted exactly once all of them have ended.
  const sessions = browser ? 3 : 2;
  await using server = await startCatbusd([
    "--webtransport-idle-timeout",
    "2s",
    "--max-connections-per-door",
    String(sessions),
  ]);
  try {
    if (browser) {
      const page = await browser.newPage();
      await page.goto(`${server.httpUrl}/health`);
      const kind = await page.evaluate(async ({ url, token }) => {
        const { CatbusClient, autoTransport } = await import(`${url}/catbus/client.js`);
        const client = new CatbusClient({
          url,
          token,
          transport: autoTransport({ webtransport: { fetchCertificateHash: true } }),
        });
        await client.connect();
        return client.transportKind as string;
      }, { url: server.httpUrl, token: server.adminKey });
      assert.equal(kind, "webtransport");
      await page.close();
    }
    const bare = await vanishingClient(server, true);
    const greeted = await vanishingClient(server, false);
    bare.kill("SIGKILL");
    greeted.kill("SIGKILL");
    await Promise.all([bare.status, greeted.status]);

    const probe = await admittedSession(server, 15_000);
    probe.close();
    const health = await fetch(`${server.httpUrl}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    await browser?.close();
  }
});
