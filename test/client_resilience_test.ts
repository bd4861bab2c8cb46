/**
 * The client never gives up: a frozen server (SIGSTOP) is detected by heartbeats and left for a
 * reconnect; tokens are refreshed over the open connection before they expire; an expired or
 * refused token is replaced on the next reconnect.
 */
import assert from "node:assert/strict";
import { CatbusClient, type CatbusError, type ConnectionState } from "../client/mod.ts";
import { mintToken } from "../client/tokens.ts";
import { launchChromium } from "./helpers/browser.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";
import { nativeClient } from "./helpers/native.ts";

const SECRET = "resilience-test-secret";
const grants = [{ permission: "all", pattern: "app.>" }];

/** Resolves once the client reaches `state`. */
function reaches(client: CatbusClient, state: ConnectionState, ms = 30_000) {
  return within(
    new Promise<void>((resolve) => {
      if (client.connectionState === state) return resolve();
      const stop = client.onStateChange((s) => {
        if (s === state) {
          stop();
          resolve();
        }
      });
    }),
    ms,
    `client ${state}`,
  );
}

/** Messages a subscription receives, awaited one by one. */
function inbox(client: CatbusClient, pattern: string) {
  const waiting: ((p: unknown) => void)[] = [];
  const queued: unknown[] = [];
  const subscribed = client.subscribe(pattern, (_c, payload) => {
    const w = waiting.shift();
    if (w) w(payload);
    else queued.push(payload);
  });
  return {
    subscribed,
    next: () =>
      within(
        queued.length
          ? Promise.resolve(queued.shift())
          : new Promise((resolve) => waiting.push(resolve)),
        20_000,
        `a message on ${pattern}`,
      ),
  };
}

Deno.test("client resilience - a frozen server (SIGSTOP, --heartbeat 1s) is detected and the client reconnects once it thaws", async () => {
  await using server = await startCatbusd(["--heartbeat", "1s"]);
  const client = new CatbusClient({
    url: server.wsUrl,
    token: server.adminKey,
    reconnectDelay: 100,
    maxReconnectDelay: 500,
    connectTimeout: 2_000,
  });
  await client.connect();
  const messages = inbox(client, "app.>");
  await messages.subscribed;
  const errors: string[] = [];
  client.onError((e: CatbusError) => errors.push(e.code));
  Deno.kill(server.pid, "SIGSTOP");
  let thawed = false;
  try {
    const frozenAt = performance.now();
    await reaches(client, "reconnecting");
    console.log(`frozen server detected after ${Math.round(performance.now() - frozenAt)} ms`);
    assert.equal(errors[0], "timeout");
    Deno.kill(server.pid, "SIGCONT");
    thawed = true;
    await reaches(client, "connected");
    const publisher = await nativeClient(server);
    await publisher.publish("app.after", "thawed");
    assert.equal(await messages.next(), "thawed", "the subscription came back");
    await publisher.disconnect();
  } finally {
    if (!thawed) Deno.kill(server.pid, "SIGCONT");
    await client.disconnect();
  }
});

Deno.test("client resilience - getToken's tokens are handed over before expiry; the connection and subscriptions stay", async () => {
  await using server = await startCatbusd(["--secret", SECRET]);
  // Resolves at the first refresh after the first token's expiry (6 s after connecting).
  const outlived = Promise.withResolvers<void>();
  let firstExpiry = Infinity;
  const getToken = async () => {
    if (Date.now() > firstExpiry + 1000) outlived.resolve();
    firstExpiry = Math.min(firstExpiry, Date.now() + 6000);
    return await mintToken({ clientId: "refresher", grants, expiresIn: 6 }, SECRET);
  };
  const client = new CatbusClient({ url: server.wsUrl, getToken });
  const states: ConnectionState[] = [];
  client.onStateChange((s) => states.push(s));
  await client.connect();
  const messages = inbox(client, "app.>");
  await messages.subscribed;
  // Each 6 s token is refreshed on the server's expiring notice, over the same connection.
  await within(outlived.promise, 30_000, "a refresh after the first token's expiry");
  const publisher = await nativeClient(server);
  await publisher.publish("app.x", "still here");
  assert.equal(await messages.next(), "still here");
  assert.deepEqual(states, ["connecting", "authenticating", "connected"], "never reconnected");
  await publisher.disconnect();
  await client.disconnect();
});

Deno.test("client resilience - a token that expires unrefreshed, or a refused refresh, ends the connection, not the client", async () => {
  await using server = await startCatbusd(["--secret", SECRET]);
  let calls = 0;
  // Tokens live 6 s: the expiring notice comes with 3 s left, time enough to refresh under load.
  // 1: connect. 2: the first refresh fails (backend down): the token expires, the server closes.
  // 3: reconnect. 4: refresh with another client's token: refused, closed. 5: reconnect.
  const getToken = async () => {
    const call = ++calls;
    if (call === 2) throw new Error("backend unavailable");
    const clientId = call === 4 ? "someone-else" : "survivor";
    return await mintToken({ clientId, grants, expiresIn: call === 5 ? 3600 : 6 }, SECRET);
  };
  const client = new CatbusClient({
    url: server.wsUrl,
    getToken,
    reconnectDelay: 100,
    maxReconnectDelay: 500,
  });
  const errors: string[] = [];
  client.onError((e: CatbusError) => errors.push(`${e.code}: ${e.message}`));
  await client.connect();
  const messages = inbox(client, "app.>");
  await messages.subscribed;
  await within(
    (async () => {
      while (calls < 5 || client.connectionState !== "connected") {
        await reaches(client, "reconnecting");
        await reaches(client, "connected");
      }
    })(),
    40_000,
    "two reconnects with fresh tokens",
  );
  assert.ok(
    errors.some((e) => /getToken\(\) failed: Error: backend unavailable/.test(e)),
    errors.join("\n"),
  );
  assert.ok(errors.some((e) => /token expired/.test(e)), errors.join("\n"));
  assert.ok(errors.some((e) => /same client id \(survivor\)/.test(e)), errors.join("\n"));
  const publisher = await nativeClient(server);
  await publisher.publish("app.y", "resubscribed");
  assert.equal(await messages.next(), "resubscribed");
  await publisher.disconnect();
  await client.disconnect();
});

Deno.test("client resilience - in a browser, a page becoming visible checks the connection at once", async () => {
  const browser = await launchChromium("client resilience visibilitychange");
  if (!browser) return;
  await using server = await startCatbusd();
  let thawed = false;
  try {
    const page = await browser.newPage();
    await page.goto(`${server.httpUrl}/health`);
    await page.evaluate(async ({ url, token }) => {
      const { CatbusClient } = await import(`${url}/catbus/client.js`);
      const w = globalThis as unknown as Record<string, unknown>;
      const states: string[] = [];
      w.states = states;
      // Heartbeats a minute apart (as a throttled background tab would see them).
      const client = new CatbusClient({ url, token, pingInterval: 60_000, reconnectDelay: 100 });
      client.onStateChange((s: string) => states.push(s));
      await client.connect();
    }, { url: server.httpUrl, token: server.adminKey });
    Deno.kill(server.pid, "SIGSTOP");
    // The tab comes back to the foreground.
    await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
    await page.waitForFunction(
      () => (globalThis as unknown as { states: string[] }).states.includes("reconnecting"),
      undefined,
      { timeout: 20_000 },
    );
    Deno.kill(server.pid, "SIGCONT");
    thawed = true;
    await page.waitForFunction(
      () => (globalThis as unknown as { states: string[] }).states.at(-1) === "connected",
      undefined,
      { timeout: 30_000 },
    );
  } finally {
    if (!thawed) Deno.kill(server.pid, "SIGCONT");
    await browser.close();
  }
});
