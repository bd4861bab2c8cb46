import assert from "node:assert/strict";
import type { BusMessage } from "../core/message.ts";
import { DurableStream } from "./durable-stream.ts";

const message = (seq: number, time: number): BusMessage => ({
  channel: "ns.x",
  seq,
  epoch: "e",
  id: `id${seq}`,
  time,
  payload: new Uint8Array(100),
  binary: true,
});

/** One write per message, so the small segments roll. */
async function filled(dir: string, count: number, time: (i: number) => number) {
  let stored = () => {};
  const stream = await DurableStream.open(dir, { fsync: { kind: "never" }, segmentBytes: 600 }, {
    listener: { durable: () => stored(), failed: () => {} },
  });
  for (let i = 1; i <= count; i++) {
    const done = new Promise<void>((resolve) => stored = resolve);
    stream.append([{ message: message(0, time(i)) }]);
    await done;
  }
  return stream;
}

Deno.test("stream retention - by age and by bytes, whole segments, never the newest message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "catbus-retention-" });
  try {
    const now = 1_000_000;
    const byAge = await filled(`${dir}/age`, 40, (i) => now - (40 - i) * 1000);
    const first = await byAge.applyRetention(
      { maxAgeMs: 10_500, maxMessages: 0, maxBytes: 0 },
      now,
    );
    assert.ok(first > 1 && first <= 30, `first seq ${first}: messages older than 10.5 s go`);
    assert.equal(byAge.lastSeq, 40);
    await byAge.applyRetention({ maxAgeMs: 1, maxMessages: 0, maxBytes: 0 }, now + 60_000);
    assert.equal(byAge.lastSeq, 40, "the newest message stays, so the position survives");
    await byAge.close();

    const bySize = await filled(`${dir}/bytes`, 40, (i) => i);
    const before = bySize.log.bytes;
    await bySize.applyRetention({ maxAgeMs: 0, maxMessages: 0, maxBytes: 1500 });
    assert.ok(
      bySize.log.bytes < before && bySize.log.bytes <= 1500 + 600,
      `${bySize.log.bytes} bytes left`,
    );
    const kept: number[] = [];
    for await (const batch of bySize.read(1)) kept.push(...batch.map((m) => m.seq));
    assert.equal(kept[0], bySize.firstSeq);
    assert.equal(kept.at(-1), 40);
    await bySize.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
