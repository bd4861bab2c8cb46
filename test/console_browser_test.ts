import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { launchChromium } from "./helpers/browser.ts";
import { nativeClient } from "./helpers/native.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { admin } from "./helpers/admin.ts";
import { makeDeadLetters } from "./helpers/dead-letters.ts";
import { connectSm, ORDER, startSm } from "./sm_helpers.ts";
import { ADMIN, api, login, startPulsar, userWith } from "./helpers/pulsar.ts";
import { testDatabase } from "./helpers/postgres.ts";

/** Set to a directory to save a screenshot of each page there (docs/console/). */
const SCREENSHOTS = Deno.env.get("CATBUS_CONSOLE_SCREENSHOTS");
const snap = async (page: Page, name: string) => {
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
};

Deno.test("console - in Chromium: log in, browse a namespace, tail it while publishing, close a connection, requeue a dead letter, mint a token", async () => {
  const browser = await launchChromium("console in Chromium");
  if (!browser) return;
  await using server = await startSm();
  const sm = await connectSm(server);
  await sm.request("PUT_MACHINE", { machine: "order", version: 1, definition: ORDER });
  await sm.request("CREATE_INSTANCE", {
    machine: "order",
    version: 1,
    instance_id: "order-42",
    initial_ctx: { amount: 30 },
  });
  sm.close();
  const c = await nativeClient(server);
  try {
    for (let i = 1; i <= 5; i++) await c.publish("orders.new", { order: i });
    await c.publish("html.x", { html: "<img src=x onerror=globalThis.pwned=1>" });
    await makeDeadLetters(c, { name: "flaky", pattern: "orders.>", count: 5 });
    const page = await browser.newPage();
    page.setDefaultTimeout(20_000);

    await page.goto(`${server.httpUrl}/console`);
    await page.fill('input[name="key"]', server.adminKey);
    await page.click("button:text-is('Log in')");
    await page.waitForSelector("h2:text('Overview')");
    await page.waitForSelector("#rates");
    // The state-machine door runs here, the Pulsar and Alle doors do not.
    await page.locator("nav >> text=State machines").waitFor(); // shown once the overview answered
    assert.equal(await page.isVisible("nav >> text=Pulsar"), false);
    if (SCREENSHOTS) {
      // Two polls with traffic between them, so the chart has a line to show.
      for (let poll = 0; poll < 2; poll++) {
        const before = await page.textContent("#rates");
        for (let i = 0; i < 20; i++) await c.publish("chart.x", { i });
        await page.waitForFunction(
          (was) => document.getElementById("rates")?.textContent !== was,
          before,
        );
      }
    }
    await snap(page, "overview");

    await page.goto(`${server.httpUrl}/console#/namespace/html`);
    await page.waitForSelector("tr[data-seq='1']");
    assert.match(await page.textContent("tr[data-seq='1']") ?? "", /<img src=x onerror/);
    assert.equal(await page.evaluate(() => (globalThis as { pwned?: number }).pwned), undefined);

    await page.click("nav >> text=Namespaces");
    // Each namespace's size: on disk for a stored one, in memory.
    await page.waitForSelector("tr[data-namespace='orders'] >> text=/\\d+(\\.\\d)? (B|KiB)/");
    assert.match(await page.textContent("#retention") ?? "", /^Retention: /);
    await snap(page, "namespaces");
    await page.click("a:text-is('orders')");
    await page.waitForSelector("tr[data-seq='5']");
    assert.match(await page.textContent("tr[data-seq='3']") ?? "", /\{"order":3\}/);
    await snap(page, "namespace");

    // Tail orders.> while a publisher runs: the page shows the live messages.
    await page.click("button:text-is('Tail')");
    await page.waitForSelector("#tail >> text=tailing orders.>");
    let n = 0;
    const publishing = setInterval(
      () => c.publish("orders.live", { live: ++n }).catch(() => {}),
      100,
    );
    try {
      await page.waitForSelector("#tail td:text('orders.live')");
    } finally {
      clearInterval(publishing);
    }
    await snap(page, "tail");

    const token = (await admin(server, "POST", "/tokens", {
      permissions: ["all"],
      patterns: ["w.>"],
      client_id: "worker-1",
    })).body.token as string;
    const worker = await nativeClient(server, token);
    const states = new AsyncQueue<string>();
    worker.onStateChange((s) => states.push(s));
    await page.click("nav >> text=Connections");
    await page.fill('input[name="q"]', "worker-1");
    await page.click("button:text-is('Search')");
    await page.waitForSelector("tr[data-client='worker-1']");
    await snap(page, "connections");
    await page.click("tr[data-client='worker-1'] >> text=Close");
    assert.notEqual(await states.next("the worker's connection closing"), "connected");
    await worker.disconnect();

    const again = new AsyncQueue<unknown>();
    await c.subscribe("orders.new", (_ch, payload) => again.push(payload));
    await page.click("nav >> text=Consumers");
    await page.click("a:text-is('flaky')");
    await page.waitForSelector("#dead-letters tr[data-seq] >> text=Requeue");
    await snap(page, "dead-letters");
    await page.click("#dead-letters tr[data-seq] >> nth=0 >> text=Requeue");
    assert.deepEqual(await again.next("the requeued message"), { order: 1 });
    await page.waitForSelector("#dead-letters td:text-is('requeued')");

    await page.click("nav >> text=Roles and tokens");
    const mint = page.locator("form", { has: page.locator("button:text-is('Mint token')") });
    await mint.locator('input[name="permissions"]').fill("all");
    await mint.locator('input[name="patterns"]').fill("chat.>");
    await mint.locator("button").click();
    const minted = (await page.textContent("#minted .token"))!.trim();
    assert.match(minted, /^sub-/);
    await snap(page, "access");
    const user = await nativeClient(server, minted);
    await user.publish("chat.room", { hi: 1 });
    await assert.rejects(
      user.publish("orders.x", 1),
      (e: { code?: string }) => e.code === "forbidden",
    );
    await user.disconnect();

    await page.click("nav >> text=Publish");
    await page.fill('input[name="channel"]', "orders.new");
    await page.fill('textarea[name="payload"]', '{"from":"console"}');
    await page.click("button:text-is('Publish')");
    await page.waitForSelector("#publish-result >> text=published: seq");
    assert.deepEqual(await again.next("the published message"), { from: "console" });
    await snap(page, "publish");

    await page.click("nav >> text=State machines");
    await page.waitForSelector("#machines td:text-is('order')");
    await page.waitForSelector("#instances tr[data-instance='order-42'] >> text=created");
    // A definition and an instance in full; a transition made meanwhile shows live.
    await page.click("#machines tr[data-machine='order'] >> button:text-is('1')");
    await page.waitForSelector('#definition pre >> text=/"states"/');
    const rcp = await connectSm(server);
    await rcp.request("APPLY_EVENT", { instance_id: "order-42", event: "PAY" });
    rcp.close();
    await page.waitForSelector("#transitions td:text('sm.order.order-42')");
    await page.click("#instances tr[data-instance='order-42'] >> button");
    await page.waitForSelector('#instance pre >> text=/"state": "paid"/');
    await snap(page, "state-machines");

    await page.click("text=Log out");
    await page.waitForSelector("h2:text('Log in')");
  } finally {
    await c.disconnect();
    await browser.close();
  }
});

Deno.test("console - in Chromium: the Pulsar door's users and topics, the Alle door's channels with their live notifications", async () => {
  const browser = await launchChromium("console pages of the Pulsar and Alle doors");
  if (!browser) return;
  // Without PostgreSQL the Alle door stays off and its page says so.
  await using db = await testDatabase("console - the Alle page");
  const alle = db
    ? [
      "--alle-bind",
      "127.0.0.1:0",
      "--alle-postgres-url",
      db.url,
      "--alle-listen-channels",
      "orders",
    ]
    : [];
  await using server = await startPulsar(alle);
  if (db) await server.waitForLog(/alle: connected to PostgreSQL/, 30_000);
  const root = (await login(server, ADMIN.username, ADMIN.password)).access_token;
  const alice = await userWith(server, root, "alice", ["read", "write"]);
  await api(server, "POST", "/api/v1/topics", alice.token, {
    topic_name: "orders",
    is_public: true,
    description: "new orders",
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto(`${server.httpUrl}/console`);
    await page.fill('input[name="key"]', server.adminKey);
    await page.click("button:text-is('Log in')");
    await page.waitForSelector("h2:text('Overview')");

    assert.equal(await page.isVisible("nav >> text=State machines"), false);
    await page.click("nav >> text=Pulsar");
    await page.waitForSelector("#pulsar-users tr[data-user='alice']");
    await page.waitForSelector("#pulsar-topics tr[data-topic='orders'] >> text=alice");
    await snap(page, "pulsar");

    if (!db) {
      assert.equal(await page.isVisible("nav >> text=Alle"), false);
      await page.goto(`${server.httpUrl}/console#/alle`);
      await page.waitForSelector("text=The Alle door is off");
      return;
    }
    await page.click("nav >> text=Alle");
    await page.waitForSelector("#alle-channels tr[data-channel='orders'] >> text=pg.orders");
    await page.waitForSelector("#alle-tail >> text=tailing pg.>");
    await db.sql`NOTIFY orders, 'New order #123'`;
    await page.waitForSelector("#alle-tail td:text('pg.orders')");
    await snap(page, "alle");
  } finally {
    await browser.close();
  }
});
