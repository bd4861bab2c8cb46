import assert from "node:assert/strict";
import { bundleReactApp } from "../examples/chat/bundle.ts";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { CatbusClient, CatbusError, ErrorCode } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";
import { mintToken } from "../client/tokens.ts";
import { MESSAGES_CHANNEL } from "../examples/chat/messages.ts";
import { startChatExample } from "../examples/chat/server.ts";
import { launchChromium } from "./helpers/browser.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";

/** Opens the chat page, waits for the connection and joins as `name`. */
async function join(
  browser: Browser,
  url: string,
  name: string,
): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await page.getByTestId("state").getByText("connected", { exact: true })
    .waitFor();
  await page.getByTestId("name-input").fill(name);
  await page.getByTestId("join").click();
  // Our own heartbeat came back: the room's subscriptions are live.
  await member(page, name).waitFor();
  return page;
}

const member = (page: Page, name: string) =>
  page.getByTestId("member").getByText(name, { exact: true });

/**
 * Whether any connection subscribes to `channel`, asked of the server: a request rejects at
 * once with `no_responders` when nobody does, else it times out (nobody answers chat messages).
 */
async function hasSubscribers(
  client: CatbusClient,
  channel: string,
): Promise<boolean> {
  try {
    await client.request(channel, null, { timeout: 100 });
    return true;
  } catch (e) {
    if (!(e instanceof CatbusError)) throw e;
    if (e.code === ErrorCode.NoResponders) return false;
    if (e.code === ErrorCode.Timeout) return true;
    throw e;
  }
}

/**
 * (Un)subscribing is asynchronous and the server's view is observable only through requests:
 * ask until it is as expected (a `no_responders` answer is immediate, hence the short pause).
 */
async function untilSubscribed(
  client: CatbusClient,
  channel: string,
  expected: boolean,
) {
  const deadline = Date.now() + 5000;
  while (await hasSubscribers(client, channel) !== expected) {
    if (Date.now() > deadline) {
      assert.fail(
        `${channel} ${expected ? "has no" : "still has a"} subscriber`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("react - two pages chat through the hooks; leaving unsubscribes", async () => {
  const browser = await launchChromium("react chat example");
  if (!browser) return;
  const chat = await startChatExample({ catbusPort: 0, pagePort: 0 });
  const observer = new CatbusClient({
    url: chat.catbus.endpoints.tcp,
    token: await chat.newToken(),
    transport: tcpTransport(),
  });
  try {
    await observer.connect();
    const alice = await join(browser, chat.pageUrl, "alice");
    const bob = await join(browser, chat.pageUrl, "bob");
    await member(bob, "alice").waitFor();
    await member(alice, "bob").waitFor();

    await alice.getByTestId("message-input").fill("hello from alice");
    await alice.getByTestId("send").click();
    const bobsMessages = bob.getByTestId("message");
    await bobsMessages.getByText("hello from alice").waitFor();
    await alice.getByTestId("message").getByText("hello from alice").waitFor();
    // StrictMode runs every effect twice: still one subscription, so one copy.
    assert.equal(await bobsMessages.count(), 1);
    assert.equal(await hasSubscribers(observer, MESSAGES_CHANNEL), true);

    // Leaving unmounts the room; the page stays connected.
    await alice.getByTestId("leave").click();
    await alice.getByTestId("name-input").waitFor();
    await member(bob, "alice").waitFor({ state: "detached" });
    await observer.publish(MESSAGES_CHANNEL, {
      from: "observer",
      text: "after alice left",
    });
    await bobsMessages.getByText("after alice left").waitFor();
    assert.equal(await alice.getByTestId("message").count(), 0);

    await bob.getByTestId("leave").click();
    await bob.getByTestId("name-input").waitFor();
    for (const page of [alice, bob]) {
      assert.equal(await page.getByTestId("state").textContent(), "connected");
    }
    // Both pages are connected, yet the server has no subscriber left for the room.
    await untilSubscribed(observer, MESSAGES_CHANNEL, false);
    await untilSubscribed(observer, "chat.presence.alice", false);
  } finally {
    await observer.disconnect();
    await browser.close();
    await chat.close();
  }
});

/**
 * The original's bug: hooks in the same component as useCatbus never subscribed. This page
 * has them all in one component, under StrictMode, and switches pattern.
 */
const PROBE_APP = `
  import { StrictMode, useState } from "react";
  import { createRoot } from "react-dom/client";
  import { autoTransport } from "./client/mod.ts";
  import { useCatbus, useLatestMessage, useSubscription } from "./react/mod.ts";

  const options = {
    ...globalThis.probeConfig,
    transport: autoTransport({ webtransport: { fetchCertificateHash: true } }),
  };

  function Probe() {
    const { client, state } = useCatbus(options);
    const [pattern, setPattern] = useState("probe.a");
    const { messages } = useSubscription(client, pattern);
    const latest = useLatestMessage(client, pattern);
    // Requests asking whether anyone subscribes carry null: not shown.
    const shown = messages.map((m) => m.payload).filter((p) => p !== null);
    return (
      <>
        <p data-testid="state">{state}</p>
        <p data-testid="messages">{JSON.stringify(shown)}</p>
        <p data-testid="latest">{JSON.stringify(latest?.payload)}</p>
        <button data-testid="switch" onClick={() => setPattern("probe.b")}>probe.b</button>
      </>
    );
  }

  const root = document.body.appendChild(document.createElement("div"));
  createRoot(root).render(<StrictMode><Probe /></StrictMode>);
`;

Deno.test("react - hooks in the same component as useCatbus subscribe, and follow the pattern", async () => {
  const browser = await launchChromium("react hooks in one component");
  if (!browser) return;
  await using server = await startCatbusd();
  const observer = new CatbusClient({
    url: server.tcpUrl,
    token: server.adminKey,
    transport: tcpTransport(),
  });
  try {
    await observer.connect();
    const page = await browser.newPage();
    await page.goto(`${server.httpUrl}/health`);
    await page.evaluate((config) => {
      (globalThis as unknown as { probeConfig: unknown }).probeConfig = config;
    }, { url: server.httpUrl, token: server.adminKey });
    await page.addScriptTag({
      type: "module",
      content: await bundleReactApp({
        stdin: {
          contents: PROBE_APP,
          loader: "tsx",
          resolveDir: fileURLToPath(new URL("..", import.meta.url)),
        },
      }),
    });
    const text = (id: string) => page.getByTestId(id).textContent();

    await page.getByTestId("state").getByText("connected", { exact: true })
      .waitFor();
    await untilSubscribed(observer, "probe.a", true);
    await observer.publish("probe.a", { n: 1 });
    await page.getByTestId("latest").getByText('{"n":1}').waitFor();
    assert.equal(await text("messages"), '[{"n":1}]');

    await page.getByTestId("switch").click();
    await untilSubscribed(observer, "probe.a", false);
    await untilSubscribed(observer, "probe.b", true);
    await observer.publish("probe.b", { n: 2 });
    await page.getByTestId("latest").getByText('{"n":2}').waitFor();
    assert.equal(await text("messages"), '[{"n":2}]');
  } finally {
    await observer.disconnect();
    await browser.close();
  }
});

/** useHistory and usePresence in two components on one channel, under StrictMode. */
const PRESENCE_APP = `
  import { StrictMode } from "react";
  import { createRoot } from "react-dom/client";
  import { useCatbus, useHistory, usePresence } from "./react/mod.ts";

  function Room({ id }) {
    const { client } = useCatbus(globalThis.probeConfig);
    const { members } = usePresence(client, "room.1");
    const { messages } = useHistory(client, "room.1", { limit: 10 });
    return (
      <>
        <p data-testid={"members-" + id}>{JSON.stringify(members.map((m) => m.info?.name))}</p>
        <p data-testid={"history-" + id}>{JSON.stringify(messages.map((m) => m.payload))}</p>
      </>
    );
  }

  const root = document.body.appendChild(document.createElement("div"));
  createRoot(root).render(<StrictMode><Room id="a" /><Room id="b" /></StrictMode>);
`;

Deno.test("react - useHistory and usePresence under StrictMode: one copy of the history, one member, no stray leave", async () => {
  const browser = await launchChromium("react presence and history hooks");
  if (!browser) return;
  const secret = "react-presence-secret";
  await using server = await startCatbusd(["--secret", secret]);
  const observer = new CatbusClient({
    url: server.tcpUrl,
    token: server.adminKey,
    transport: tcpTransport(),
  });
  try {
    await observer.connect();
    for (const n of [1, 2, 3]) await observer.publish("room.1", n);
    const heard: string[] = [];
    let pageLeft!: () => void;
    const left = new Promise<void>((r) => pageLeft = r);
    await observer.subscribe("room.1", () => {}, {
      onPresence: ({ event, member }) => {
        heard.push(`${event} ${member.clientId}`);
        if (event === "leave") pageLeft();
      },
    });
    const token = await mintToken({
      clientId: "page",
      grants: [{ permission: "read", pattern: "room.>" }],
      info: { name: "Page" },
    }, secret);
    const page = await browser.newPage();
    await page.goto(`${server.httpUrl}/health`);
    await page.evaluate((config) => {
      (globalThis as unknown as { probeConfig: unknown }).probeConfig = config;
    }, { url: server.httpUrl, token });
    await page.addScriptTag({
      type: "module",
      content: await bundleReactApp({
        stdin: {
          contents: PRESENCE_APP,
          loader: "tsx",
          resolveDir: fileURLToPath(new URL("..", import.meta.url)),
        },
      }),
    });
    for (const id of ["a", "b"]) {
      await page.getByTestId(`members-${id}`).getByText('["Page"]').waitFor();
      await page.getByTestId(`history-${id}`).getByText("[1,2,3]").waitFor();
    }
    const members = await observer.presence("room.1");
    assert.deepEqual(members, [{ clientId: "page", info: { name: "Page" } }]);
    await page.close();
    await within(left, 10_000, "the page's leave");
    // Each Room has its own useCatbus client, so "page" joined with two connections: one join,
    // and one leave when the page closed — StrictMode's remount left and joined nothing.
    assert.deepEqual(heard, ["join page", "leave page"]);
  } finally {
    await observer.disconnect();
    await browser.close();
  }
});
