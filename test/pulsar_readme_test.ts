/**
 * The seed README's own client code, run as its users would: the curl commands with bash and
 * curl, the JavaScript WebSocket and long-polling examples under Node (with the `ws` package,
 * since Node 20 has no WebSocket global). Only the README's placeholders are filled in: the
 * host (`localhost:8080`) and the token.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  api,
  notificationsTopic,
  type PulsarServer,
  readmeExample,
  startPulsar,
  userWith,
} from "./helpers/pulsar.ts";
import { AsyncQueue } from "./helpers/queue.ts";
import { within } from "./helpers/deadline.ts";

const FIXTURES = new URL("./fixtures/pulsar-readme/", import.meta.url);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CURL: string[] = JSON.parse(await Deno.readTextFile(new URL("curl.json", FIXTURES)));

const hostOf = (server: PulsarServer) => new URL(server.pulsarUrl).host;

async function curl(server: PulsarServer, command: string, tokens: Record<string, string>) {
  let script = command.replaceAll("localhost:8080", hostOf(server));
  for (const [placeholder, token] of Object.entries(tokens)) {
    script = script.replaceAll(placeholder, token);
  }
  const out = await new Deno.Command("bash", {
    args: ["-c", `${script} -s -w '\\n%{http_code}'`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trimEnd();
  const newline = text.lastIndexOf("\n");
  const body = text.slice(0, newline);
  return { status: Number(text.slice(newline + 1)), body: body ? JSON.parse(body) : null };
}

Deno.test("pulsar readme - the curl commands work as written", async () => {
  await using server = await startPulsar();
  const [loginCmd, registerCmd, sendCmd, createCmd, grantCmd, listCmd, publicCmd] = CURL;

  const loggedIn = await curl(server, loginCmd, {});
  assert.equal(loggedIn.status, 200);
  assert.equal(loggedIn.body.token_type, "bearer");
  assert.equal(loggedIn.body.expires_in, 3600, "tokens expire after 1 hour by default");
  assert.match(loggedIn.body.access_token, /^eyJ/);
  const tokens = {
    YOUR_ADMIN_TOKEN: loggedIn.body.access_token,
    YOUR_ACCESS_TOKEN: loggedIn.body.access_token,
  };

  const registered = await curl(server, registerCmd, tokens);
  assert.equal(registered.status, 201);
  assert.equal(registered.body.username, "producer1");
  assert.deepEqual(registered.body.permissions, ["write"]);
  assert.equal(registered.body.hashed_password, undefined);

  const created = await curl(server, createCmd, tokens);
  assert.equal(created.status, 201);
  assert.equal(created.body.topic_name, "notifications");
  assert.equal(created.body.is_public, false);
  assert.equal(created.body.description, "User notification messages");

  await userWith(server, tokens.YOUR_ADMIN_TOKEN, "consumer1", ["read"]);
  const granted = await curl(server, grantCmd, tokens);
  assert.equal(granted.status, 201);
  assert.equal(granted.body.username, "consumer1");

  const listed = await curl(server, listCmd, tokens);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body.map((t: { topic_name: string }) => t.topic_name), ["notifications"]);

  const madePublic = await curl(server, publicCmd, tokens);
  assert.equal(madePublic.status, 200);
  assert.equal(madePublic.body.is_public, true);

  const sent = await curl(server, sendCmd, tokens);
  assert.equal(sent.status, 201);
  assert.equal(sent.body.topic, "notifications");
  assert.match(sent.body.message_id, /^\d+-\d+$/);
  assert.ok(!Number.isNaN(Date.parse(sent.body.timestamp)));
});

/** Runs a README example under Node; its stdout and stderr lines, as they come. */
function runNode(file: string, token: string, server: PulsarServer) {
  const lines = new AsyncQueue<string>();
  const child = (async () => {
    const source = await readmeExample(file, token, server);
    // What a Node 20 user adds: the `ws` package as the WebSocket global.
    const prelude = `globalThis.WebSocket ??= require(${
      JSON.stringify(`${ROOT}node_modules/ws`)
    });\n`;
    const process = new Deno.Command("node", {
      args: ["-e", prelude + source],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    for (const stream of [process.stdout, process.stderr]) {
      (async () => {
        let buffered = "";
        for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
          buffered += chunk;
          let nl;
          while ((nl = buffered.indexOf("\n")) >= 0) {
            lines.push(buffered.slice(0, nl));
            buffered = buffered.slice(nl + 1);
          }
        }
      })();
    }
    return process;
  })();
  return {
    lines,
    async stop() {
      const p = await child;
      p.kill("SIGTERM");
      await p.status;
    },
  };
}

async function expectLine(lines: AsyncQueue<string>, pattern: RegExp, what: string) {
  for (;;) {
    const line = await lines.next(what, 20_000);
    if (pattern.test(line)) return line;
    if (/error/i.test(line)) throw new Error(`${what}: the example printed ${line}`);
  }
}

Deno.test("pulsar readme - the JavaScript WebSocket example receives and acks a message", async () => {
  await using server = await startPulsar();
  const { admin, consumer } = await notificationsTopic(server);
  const node = runNode("websocket.js", consumer.token, server);
  try {
    await expectLine(node.lines, /^Subscribed to: \[ 'notifications', 'alerts' \]/, "subscribed");
    assert.match(await node.lines.next("session id"), /^Session ID: sess_[0-9a-f]{12}$/);
    const sent = await api(server, "POST", "/api/v1/messages", admin, {
      topic: "notifications",
      payload: { user_id: 123, message: "Hello, World!" },
    });
    assert.equal(sent.status, 201);
    assert.equal(
      await expectLine(node.lines, /^Received:/, "the message"),
      "Received: { user_id: 123, message: 'Hello, World!' }",
    );
  } finally {
    await node.stop();
  }
});

Deno.test("pulsar readme - the JavaScript long-polling example receives messages in order", async () => {
  await using server = await startPulsar();
  const { admin, consumer } = await notificationsTopic(server);
  const node = runNode("long-poll.js", consumer.token, server);
  try {
    // The example's first poll waits (since = {}): publish once it is there.
    await within(
      (async () => {
        for (;;) {
          const stats = await api(server, "GET", "/messages/poll/stats", consumer.token);
          if (stats.body.active_waiters > 0) return;
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
      20_000,
      "the example's first poll",
    );
    for (let i = 1; i <= 5; i++) {
      const sent = await api(server, "POST", "/api/v1/messages", admin, {
        topic: "notifications",
        payload: { n: i },
      });
      assert.equal(sent.status, 201);
    }
    for (let i = 1; i <= 5; i++) {
      assert.equal(
        await expectLine(node.lines, /^Received:/, `message ${i}`),
        `Received: { n: ${i} }`,
      );
    }
  } finally {
    await node.stop();
  }
});
