import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";
import { RawConnection } from "./helpers/raw.ts";

const MESSAGES = 40;
const PAYLOAD = new TextEncoder().encode(`"${"x".repeat(1_000_000 - 2)}"`);

/** The server's resident memory, MB. */
async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** A Bus SSE subscription from the oldest event, on a socket that is read only when asked. */
async function busStream(server: TestServer, pattern: string) {
  const url = new URL(server.busUrl);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(url.port) });
  const request = `GET /?subject=${encodeURIComponent(pattern)}&start=oldest HTTP/1.1\r\n` +
    `Host: ${url.host}\r\n\r\n`;
  await conn.write(new TextEncoder().encode(request));
  return {
    close() {
      try {
        conn.close();
      } catch { /* closed when its reading ended */ }
    },
    /** Reads until event `index` `last` arrived; returns every index seen, in order. */
    async readUntil(last: number): Promise<number[]> {
      const seen: number[] = [];
      let tail = "";
      for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) {
        const text = tail + chunk;
        let end = 0;
        for (const m of text.matchAll(/"index":(\d+)\}/g)) {
          seen.push(Number(m[1]));
          end = m.index + m[0].length;
        }
        // Keep what may start a match cut by the chunk boundary, never a whole one.
        tail = text.slice(Math.max(end, text.length - 16));
        if (seen.at(-1) === last) break;
      }
      return seen;
    },
  };
}

Deno.test("replay - subscribers that never read do not make the server buffer the log, and get it all once they read", async () => {
  await using server = await startCatbusd(["--max-payload", "2MiB"]);
  const publisher = await RawConnection.connect(server.tcpPort);
  await publisher.hello(server.adminKey);
  for (let i = 0; i < MESSAGES; i++) {
    await publisher.reply(await publisher.send(FrameType.Publish, { channel: "big.x" }, PAYLOAD));
  }
  const before = await rssMb(server.pid);

  // Native connections and Bus SSE streams that replay from the first message and never read.
  const stalled: RawConnection[] = [];
  for (let i = 0; i < 8; i++) {
    const c = await RawConnection.connect(server.tcpPort, { read: false });
    await c.send(FrameType.Hello, { version: 1, token: server.adminKey });
    await c.send(FrameType.Subscribe, { pattern: "big.>", from: "first" });
    stalled.push(c);
  }
  const streams = [];
  for (let i = 0; i < 4; i++) streams.push(await busStream(server, "big.>"));

  const probe = await RawConnection.connect(server.tcpPort);
  try {
    // Meanwhile another client is answered, and the server's memory stays bounded: each stalled
    // reader may hold about its outbound queue (8 MB by default), not the whole 40 MB replay.
    await probe.hello(server.adminKey);
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await within(probe.reply(await probe.send(FrameType.Ping)), 5000, `ping ${i}`);
      await within(
        probe.reply(
          await probe.send(FrameType.Publish, { channel: "other.x" }, PAYLOAD.subarray(0, 3)),
        ),
        5000,
        `publish ${i}`,
      );
      peak = Math.max(peak, await rssMb(server.pid));
      await new Promise((r) => setTimeout(r, 100)); // sampling interval, not a wait for an event
    }
    assert.ok(peak - before < 250, `RSS grew from ${before} MB to ${peak} MB`);

    // A stalled reader reads again: every stored message once, in order, then live ones.
    const reader = stalled[0];
    reader.startReading();
    const next = () =>
      within(reader.next((f) => f.type === FrameType.Message), 10_000, "replayed message");
    for (let seq = 1; seq <= MESSAGES; seq++) {
      assert.equal((await next()).json.seq, seq);
    }
    const live = await publisher.send(FrameType.Publish, { channel: "big.x" }, PAYLOAD);
    await within(publisher.reply(live), 5000, "live publish");
    assert.equal((await next()).json.seq, MESSAGES + 1);

    // So does a Bus stream.
    const seen = await within(streams[0].readUntil(MESSAGES + 1), 10_000, "bus events");
    assert.deepEqual(seen, Array.from({ length: MESSAGES + 1 }, (_, i) => i + 1));
  } finally {
    // Every socket, or the server's shutdown would wait on the streams nobody reads.
    for (const c of [publisher, probe, ...stalled]) c.close();
    for (const s of streams) s.close();
  }
});
