/**
 * The client never gives up, from the first connect on: it waits for a server that is not up
 * yet, and with two nodes configured it moves to the other when one dies.
 */
import assert from "node:assert/strict";
import { CatbusClient, type ConnectionState } from "../client/mod.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";

function reaches(client: CatbusClient, state: ConnectionState) {
  return within(
    new Promise<void>((resolve) => {
      if (client.connectionState === state) return resolve();
      const stop = client.onStateChange((s) => {
        if (s !== state) return;
        stop();
        resolve();
      });
    }),
    30_000,
    `client ${state}`,
  );
}

/** A port nothing listens on now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("client failover - the first connect keeps trying until the server is up, then resolves", async () => {
  const port = freePort();
  const client = new CatbusClient({
    url: `ws://127.0.0.1:${port}`,
    token: "test-admin-key",
    reconnectDelay: 50,
    maxReconnectDelay: 200,
  });
  const errors: string[] = [];
  client.onError((e) => errors.push(e.code));
  const connecting = client.connect();
  await reaches(client, "connecting");
  await using server = await startCatbusd(["--bind", `127.0.0.1:${port}`, "--no-webtransport"]);
  await within(connecting, 30_000, "the first connect");
  assert.equal(client.connectionState, "connected");
  await client.publish("app.x", 1);
  await client.disconnect();
  assert.ok(server.httpUrl.endsWith(`:${port}`));
});

Deno.test("client failover - with two nodes configured, the client moves to the other when one dies", async () => {
  await using first = await startCatbusd();
  await using second = await startCatbusd();
  const client = new CatbusClient({
    url: [first.wsUrl, second.wsUrl],
    token: first.adminKey,
    reconnectDelay: 50,
    maxReconnectDelay: 200,
  });
  await client.connect();
  const received: unknown[] = [];
  let arrived: () => void = () => {};
  await client.subscribe("app.>", (_c, payload) => {
    received.push(payload);
    arrived();
  });
  await first.crash(); // SIGKILL: no goodbye on the connection
  await reaches(client, "reconnecting");
  await reaches(client, "connected");
  // Connected to the second node: what is published there arrives.
  const got = new Promise<void>((r) => arrived = r);
  const other = new CatbusClient({ url: second.wsUrl, token: second.adminKey });
  await other.connect({ retry: false });
  await other.publish("app.hello", "from the second node");
  await within(got, 20_000, "a message through the second node");
  assert.deepEqual(received, ["from the second node"]);
  await Promise.all([client.disconnect(), other.disconnect()]);
});
