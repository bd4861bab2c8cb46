import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { json, RawConnection } from "./helpers/raw.ts";
import { within } from "./helpers/deadline.ts";

/**
 * Publishes numbered messages with up to `window` in flight until the connection dies,
 * recording every acknowledged number.
 */
async function publishUntilCut(
  port: number,
  token: string,
  from: number,
  acked: number[],
  onAck: () => void,
) {
  const c = await RawConnection.connect(port);
  await c.hello(token);
  const inFlight = new Map<number, number>();
  let next = from;
  try {
    for (;;) {
      while (inFlight.size < 32) {
        inFlight.set(await c.send(FrameType.Publish, { channel: "crash.x" }, json(next)), next);
        next++;
      }
      const answer = await c.next((f) => inFlight.has(f.id));
      assert.equal(answer.type, FrameType.Ok, JSON.stringify(answer.json));
      acked.push(inFlight.get(answer.id)!);
      inFlight.delete(answer.id);
      onAck();
    }
  } catch {
    // The server died: whatever was not acknowledged may or may not be stored.
  }
  c.close();
  return next;
}

Deno.test("crash - every acknowledged message survives SIGKILL, once and in order (fsync always)", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-crash-" });
  const acked: number[] = [];
  let next = 0;
  for (let round = 0; round < 4; round++) {
    const server = await startCatbusd(["--fsync", "always", "--segment-bytes", "16KiB"], { data });
    // Let a few hundred publishes be acknowledged, then kill the server mid-stream.
    const target = acked.length + 300;
    const reached = Promise.withResolvers<void>();
    const publishing = publishUntilCut(server.tcpPort, server.adminKey, next, acked, () => {
      if (acked.length >= target) reached.resolve();
    });
    await within(reached.promise, 15_000, "300 more acknowledged publishes");
    await server.crash();
    next = await publishing;
  }
  await using server = await startCatbusd([], { data });
  const c = await RawConnection.connect(server.tcpPort);
  await c.hello(server.adminKey);
  const ok = await c.reply(
    await c.send(FrameType.Subscribe, { pattern: "crash.>", from: "first" }),
  );
  const last = (ok.json.namespaces as Record<string, { seq: number }>).crash.seq;
  const stored: number[] = [];
  const seqs: number[] = [];
  while (seqs.length === 0 || seqs[seqs.length - 1] < last) {
    const m = await c.next((f) => f.type === FrameType.Message);
    seqs.push(m.json.seq as number);
    stored.push(JSON.parse(new TextDecoder().decode(m.data)));
  }
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => i + 1),
    "no holes in sequence",
  );
  assert.equal(new Set(stored).size, stored.length, "no message stored twice");
  for (let i = 1; i < stored.length; i++) {
    assert.ok(stored[i] > stored[i - 1], "publish order kept");
  }
  const have = new Set(stored);
  const lost = acked.filter((n) => !have.has(n));
  assert.deepEqual(lost, [], "every acknowledged message is there");
  assert.ok(acked.length >= 1200);
  c.close();
  await server.stop(); // before its directory goes
  await Deno.remove(data, { recursive: true });
});
