import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { RawConnection } from "./helpers/raw.ts";
import { within } from "./helpers/deadline.ts";

/** Resolves once nothing listens on `port` any more; rejects after `ms`. */
async function untilNotListening(port: number, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`port ${port} still accepts after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test("shutdown - SIGTERM to the launcher drains the server: clients get a shutdown error, one line logged, both exit", async () => {
  await using server = await startCatbusd([], { launcher: "node" });
  const client = await RawConnection.connect(server.tcpPort);
  assert.equal((await client.hello(server.adminKey)).type, FrameType.Welcome);
  Deno.kill(server.pid, "SIGTERM");
  const notice = await client.next((f) => f.type === FrameType.Error);
  assert.equal(notice.json.code, "shutdown");
  await client.untilClosed();
  const status = await within(server.exited, 20_000, "the server exiting");
  assert.equal(status.code, 0);
  await untilNotListening(server.tcpPort, 5000);
  assert.equal(server.log().match(/catbusd stopped/g)?.length, 1);
  assert.match(server.log(), /catbusd stopped reason=SIGTERM/);
});

Deno.test("shutdown - a launcher killed with SIGKILL leaves no server holding the ports", async () => {
  await using server = await startCatbusd([], { launcher: "node" });
  const runtime = Number(/ pid=(\d+)/.exec(server.log())![1]);
  Deno.kill(server.pid, "SIGKILL");
  await within(server.exited, 20_000, "the server exiting");
  try {
    await untilNotListening(server.tcpPort, 10_000);
    await untilNotListening(Number(new URL(server.httpUrl).port), 1000);
  } catch (e) {
    Deno.kill(runtime, "SIGKILL"); // left behind: do not let it outlive the test
    throw e;
  }
});

Deno.test("shutdown - SIGTERM to `npm start` stops the server too", async () => {
  await using server = await startCatbusd([], { launcher: "npm" });
  const runtime = Number(/ pid=(\d+)/.exec(server.log())![1]);
  Deno.kill(server.pid, "SIGTERM");
  await within(server.exited, 20_000, "the server exiting");
  try {
    await untilNotListening(server.tcpPort, 10_000);
  } catch (e) {
    Deno.kill(runtime, "SIGKILL");
    throw e;
  }
  await server.waitForLog(/catbusd stopped reason=SIGTERM/);
});

Deno.test("shutdown - event streams whose clients stopped reading do not hold the drain up", async () => {
  await using server = await startCatbusd(["--max-payload", "2MiB"]);
  const publisher = await RawConnection.connect(server.tcpPort);
  await publisher.hello(server.adminKey);
  const payload = new TextEncoder().encode(`"${"x".repeat(1_000_000)}"`);
  for (let i = 0; i < 12; i++) {
    await publisher.reply(await publisher.send(FrameType.Publish, { channel: "big.x" }, payload));
  }
  await publisher.reply(await publisher.send(FrameType.Publish, { channel: "small.x" }, payload));
  // Bus streams replaying more than the socket buffers hold, and one with a few bytes only;
  // none of them reads.
  const stalled: Deno.Conn[] = [];
  const bus = new URL(server.busUrl);
  for (const subject of ["big.>", "big.>", "small.>"]) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(bus.port) });
    await conn.write(new TextEncoder().encode(
      `GET /?subject=${
        encodeURIComponent(subject)
      }&start=oldest HTTP/1.1\r\nHost: ${bus.host}\r\n\r\n`,
    ));
    // The status line says the stream is open; after it, nothing is read.
    const head = new Uint8Array(64);
    await within(conn.read(head), 10_000, "the stream's status line");
    assert.match(new TextDecoder().decode(head), /^HTTP\/1.1 200/);
    stalled.push(conn);
  }
  Deno.kill(server.pid, "SIGTERM");
  const status = await within(server.exited, 20_000, "the server exiting");
  for (const conn of stalled) conn.close();
  // A drain that had to be cut short exits 1.
  assert.equal(status.code, 0, server.log());
  assert.equal(server.log().match(/catbusd stopped/g)?.length, 1);
});
