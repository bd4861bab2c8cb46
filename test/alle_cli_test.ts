import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startCatbusd } from "./helpers/catbusd.ts";
import { alleServer, alleUrl } from "./helpers/alle.ts";
import { within } from "./helpers/deadline.ts";
import { testDatabase } from "./helpers/postgres.ts";

const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

/** `catbus ARGS…` as a long-running process whose output is read as it comes. */
function spawnCli(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const waiters = new Set<() => void>();
  (async () => {
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      out += text;
      for (const w of waiters) w();
    }
  })();
  const stdin = child.stdin.getWriter();
  return {
    child,
    /** Resolves once the output contains `text` (`times` times). */
    printed: (text: string, times = 1) =>
      within(
        new Promise<void>((resolve) => {
          const check = () => {
            if (out.split(text).length > times) {
              waiters.delete(check);
              resolve();
            }
          };
          waiters.add(check);
          check();
        }),
        20_000,
        `catbus ${args.join(" ")} printing ${JSON.stringify(text)} (so far:\n${out})`,
      ),
    type: (line: string) => stdin.write(new TextEncoder().encode(line + "\n")),
    async end() {
      await stdin.close().catch(() => {});
      return await child.status;
    },
  };
}

async function run(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", CLI, ...args] })
    .output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("alle cli - the seed README's flow: listen orders,alerts in one process, publish in another", async () => {
  await using db = await testDatabase("alle cli - readme flow");
  if (!db) return;
  await using server = await alleServer(db);
  const url = alleUrl(server);
  const listen = spawnCli(["alle", "listen", "orders,alerts", "-w", url]);
  await listen.printed("✓ Subscribed to channel 'orders'");
  await listen.printed("✓ Subscribed to channel 'alerts'");

  const published = await run(["alle", "publish", "orders", "Test order notification", "-w", url]);
  assert.equal(published.code, 0, published.stderr);
  assert.equal(
    published.stdout,
    `Connecting to WebSocket: ${url}\nPublishing to channel 'orders': Test order notification\n` +
      "✓ Notification sent successfully\n",
  );
  assert.equal((await run(["alle", "publish", "alerts", "System alert", "-w", url])).code, 0);
  await listen.printed("[orders] Test order notification\n");
  await listen.printed("[alerts] System alert\n");

  // The REPL's commands.
  await listen.type("sub notifications");
  await listen.printed("✓ Subscribed to channel 'notifications'");
  await listen.type("list");
  await listen.printed("Subscribed channels:\n  - alerts\n  - notifications\n  - orders\n");
  await listen.type("unsub alerts");
  await listen.printed("✓ Unsubscribed from channel 'alerts'");
  await listen.type("help");
  await listen.printed("  quit / exit      - Exit the program", 2);
  await listen.type("quit");
  await listen.printed("Exiting...");
  assert.equal((await listen.end()).code, 0);
});

Deno.test("alle cli - publish fails with exit 1 when the NOTIFY is refused or nobody answers", async () => {
  await using db = await testDatabase("alle cli - publish failures");
  if (!db) return;
  await using server = await alleServer(db);
  const big = await run(["alle", "publish", "orders", "x".repeat(8000), "-w", alleUrl(server)]);
  assert.equal(big.code, 1);
  assert.doesNotMatch(big.stdout, /sent successfully/);
  assert.match(big.stderr, /payload is 8000 bytes/);
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = `ws://127.0.0.1:${(probe.addr as Deno.NetAddr).port}`;
  probe.close();
  const nobody = await run(["alle", "publish", "orders", "x", "-w", closed]);
  assert.equal(nobody.code, 1);
  assert.match(nobody.stderr, /cannot connect/);
});

Deno.test("alle cli - listen reconnects when the server restarts and subscribes again", async () => {
  await using db = await testDatabase("alle cli - reconnect");
  if (!db) return;
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const bind = `127.0.0.1:${(probe.addr as Deno.NetAddr).port}`;
  probe.close();
  const args = ["--alle-bind", bind, "--alle-postgres-url", db.url];
  const first = await startCatbusd(args);
  await first.waitForLog(/alle: connected to PostgreSQL/, 30_000);
  const listen = spawnCli(["alle", "listen", "orders", "-w", `ws://${bind}`]);
  await listen.printed("✓ Subscribed to channel 'orders'");
  await first.stop();
  await listen.printed("✗ Connection lost; reconnecting");
  await using second = await startCatbusd(args);
  await second.waitForLog(/alle: connected to PostgreSQL/, 30_000);
  await listen.printed("✓ Subscribed to channel 'orders'", 2);
  await db.sql`NOTIFY orders, 'after the restart'`;
  await listen.printed("[orders] after the restart");
  await listen.type("exit");
  assert.equal((await listen.end()).code, 0);
});
