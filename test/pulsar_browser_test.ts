/**
 * The seed README's JavaScript WebSocket and long-polling examples in headless Chromium, as a
 * web page would run them: loaded from the Pulsar door's own origin, placeholders filled in.
 */
import assert from "node:assert/strict";
import { launchChromium } from "./helpers/browser.ts";
import { api, notificationsTopic, readmeExample, startPulsar } from "./helpers/pulsar.ts";
import { AsyncQueue } from "./helpers/queue.ts";

/** Runs a README example in a page; its console lines, each argument as JSON. */
async function inChromium(
  testName: string,
  file: string,
  run: (ctx: {
    lines: AsyncQueue<unknown[]>;
    publish(payload: unknown): Promise<void>;
    pollStats(): Promise<{ active_waiters: number }>;
  }) => Promise<void>,
) {
  const browser = await launchChromium(testName);
  if (!browser) return;
  await using server = await startPulsar();
  try {
    const { admin, consumer } = await notificationsTopic(server);
    const page = await browser.newPage();
    const lines = new AsyncQueue<unknown[]>();
    // In the page's order, though reading each argument is asynchronous.
    let order = Promise.resolve();
    page.on("console", (msg) => {
      order = order.then(async () =>
        lines.push(await Promise.all(msg.args().map((a) => a.jsonValue())))
      );
    });
    await page.goto(`${server.pulsarUrl}/health`);
    await page.addScriptTag({ content: await readmeExample(file, consumer.token, server) });
    await run({
      lines,
      async publish(payload) {
        const sent = await api(server, "POST", "/api/v1/messages", admin, {
          topic: "notifications",
          payload,
        });
        assert.equal(sent.status, 201);
      },
      pollStats: async () => (await api(server, "GET", "/messages/poll/stats", admin)).body,
    });
  } finally {
    await browser.close();
  }
}

async function expectLine(lines: AsyncQueue<unknown[]>, first: string): Promise<unknown[]> {
  for (;;) {
    const line = await lines.next(`a console line starting "${first}"`, 20_000);
    if (line[0] === first) return line;
    if (String(line[0]).includes("rror")) {
      throw new Error(`the page logged ${JSON.stringify(line)}`);
    }
  }
}

Deno.test("pulsar browser - the README's WebSocket example in Chromium", async () => {
  await inChromium("pulsar browser websocket", "websocket.js", async ({ lines, publish }) => {
    assert.deepEqual(await expectLine(lines, "Subscribed to:"), ["Subscribed to:", [
      "notifications",
      "alerts",
    ]]);
    const [, session] = await expectLine(lines, "Session ID:");
    assert.match(String(session), /^sess_[0-9a-f]{12}$/);
    await publish({ user_id: 123, message: "Hello, World!" });
    assert.deepEqual(await expectLine(lines, "Received:"), ["Received:", {
      user_id: 123,
      message: "Hello, World!",
    }]);
  });
});

Deno.test("pulsar browser - the README's long-polling example in Chromium", async () => {
  await inChromium(
    "pulsar browser long-poll",
    "long-poll.js",
    async ({ lines, publish, pollStats }) => {
      const deadline = Date.now() + 20_000;
      while ((await pollStats()).active_waiters === 0) {
        if (Date.now() > deadline) {
          throw new Error(
            "the page's first poll did not arrive within 20 s",
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      for (let n = 1; n <= 3; n++) await publish({ n });
      for (let n = 1; n <= 3; n++) {
        assert.deepEqual(await expectLine(lines, "Received:"), [
          "Received:",
          { n },
        ]);
      }
    },
  );
});
