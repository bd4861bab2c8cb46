import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { RcpClient } from "../src/dialects/rcp/client.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { RawConnection } from "./helpers/raw.ts";

/** The server runs with this many descriptors; the test opens more idle sockets than that. */
const OPEN_FILES = 256;
const IDLE_SOCKETS = 300;

const portOf = (url: string) => Number(new URL(url).port);

/** Connects, giving up after `ms` (a full backlog leaves the handshake unanswered). */
async function connectWithin(port: number, ms: number): Promise<Deno.TcpConn | undefined> {
  const connecting = Deno.connect({ hostname: "127.0.0.1", port });
  const timer = new Promise<undefined>((r) => setTimeout(r, ms));
  const conn = await Promise.race([connecting, timer]).catch(() => undefined);
  if (!conn) connecting.then((c) => c.close(), () => {});
  return conn;
}

/** GET /health, or the reason it failed, within `ms`. */
async function health(url: string, ms: number): Promise<number | string> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(ms) });
    await response.body?.cancel();
    return response.status;
  } catch (e) {
    return (e as Error).message;
  }
}

Deno.test("descriptors - out of file descriptors, every door survives and serves again once some are closed", async () => {
  // A --max-connections above the open-file limit, so the descriptors run out first.
  const args = ["--rcp-bind", "127.0.0.1:0", "--max-connections", "100000"];
  await using server = await startCatbusd(args, {
    wrap: ["prlimit", `--nofile=${OPEN_FILES}:${OPEN_FILES}`],
  });
  assert.match(server.log(), new RegExp(`open-file limit soft=${OPEN_FILES} hard=${OPEN_FILES}`));
  assert.match(server.log(), /the open-file limit is below --max-connections/);
  const ports = [server.tcpPort, server.rcpPort!, portOf(server.httpUrl), portOf(server.busUrl)];
  const idle: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < IDLE_SOCKETS; i++) {
      const conn = await connectWithin(ports[i % ports.length], 500);
      if (conn) idle.push(conn);
    }
    await server.waitForLog(/cannot accept connections/);
    // The HTTP request that used to end the process (an accept failing inside Deno.serve).
    await health(server.httpUrl, 1000);
    await server.waitForLog(/cannot accept connections.*door=http/);
  } finally {
    for (const conn of idle) conn.close();
  }

  const deadline = Date.now() + 15_000;
  let answer = await health(server.httpUrl, 1000);
  while (answer !== 200 && Date.now() < deadline) answer = await health(server.httpUrl, 1000);
  assert.equal(answer, 200, "/health answers again once the idle sockets are gone");
  const native = await RawConnection.connect(server.tcpPort);
  assert.equal((await native.hello(server.adminKey)).type, FrameType.Welcome);
  native.close();
  const rcp = await RcpClient.connect({ hostname: "127.0.0.1", port: server.rcpPort! });
  assert.equal(rcp.hello.protocol_version, 1);
  rcp.close();

  const log = server.log();
  assert.match(log, /accepting connections again/);
  // At most once a minute per door, not once per failed accept.
  const told = log.match(/cannot accept connections/g)!.length;
  assert.ok(told <= ports.length, `logged ${told} times`);
});

Deno.test("descriptors - left at its default, --max-connections fits the open-file limit", async () => {
  await using server = await startCatbusd([], {
    wrap: ["prlimit", `--nofile=${OPEN_FILES}:${OPEN_FILES}`],
  });
  assert.match(server.log(), new RegExp(`open-file limit .*max_connections=${OPEN_FILES * 3 / 4}`));
  assert.doesNotMatch(server.log(), /below --max-connections/);
});
