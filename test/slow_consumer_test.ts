import assert from "node:assert/strict";
import { FrameType } from "../client/shared/frame.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { json, RawConnection } from "./helpers/raw.ts";

Deno.test("slow consumer - a stalled subscriber does not delay a healthy one, and later learns of its gap", async () => {
  await using server = await startCatbusd([
    "--outbound-bytes",
    "1MiB",
    "--history-messages",
    "100",
    // Keep only the newest ~100 messages on disk too, so the gap cannot be recovered.
    "--segment-bytes",
    "64KiB",
    "--retention-max-messages",
    "100",
  ]);
  // The stalled client subscribes, then stops reading its socket.
  const stalled = await RawConnection.connect(server.tcpPort, { read: false });
  const publisher = await RawConnection.connect(server.tcpPort);
  await publisher.hello(server.adminKey);
  await publisher.reply(
    await publisher.send(FrameType.Publish, { channel: "load.x" }, json(0)),
  );
  // Hello and subscribe without reading the answers: this client never reads until told to.
  await stalled.send(FrameType.Hello, { version: 1, token: server.adminKey });
  await stalled.send(FrameType.Subscribe, { pattern: "load.>" });
  const healthy = await RawConnection.connect(server.tcpPort);
  await healthy.hello(server.adminKey);
  await healthy.reply(
    await healthy.send(FrameType.Subscribe, { pattern: "load.>" }),
  );

  // Publish far more (≈ 20 MB) than the stalled client's queue and kernel buffers hold, keeping
  // at most 25 publishes in flight so the healthy reader is never more than ~100 KB behind.
  const payload = json({ blob: "x".repeat(4000) });
  const total = 5000;
  let lastSeq = 0;
  for (let i = 0; i < total; i++) {
    const id = await publisher.send(
      FrameType.Publish,
      { channel: "load.x" },
      payload,
    );
    if (i % 25 === 24 || i === total - 1) {
      lastSeq = (await publisher.reply(id)).json.seq as number;
    }
  }
  // The healthy subscriber received every message, in order, while the stalled one held none
  // of them up.
  for (let seq = 2; seq <= lastSeq; seq++) {
    const m = await healthy.next((f) =>
      f.type === FrameType.Message || f.type === FrameType.Notice
    );
    assert.equal(m.json.seq, seq, JSON.stringify(m.json));
  }

  // The stalled client reads again: its welcome and subscribe answers, a run of messages it had
  // queued, then a gap notice with the slow_consumer code.
  stalled.startReading();
  assert.equal((await stalled.next(() => true)).type, FrameType.Welcome);
  const gap = await stalled.next((f) => f.type === FrameType.Notice);
  assert.equal(gap.json.event, "gap");
  assert.equal(gap.json.code, "slow_consumer");
  assert.equal(gap.json.recovered, false);
  assert.equal(gap.json.namespace, "load");
  // Retention keeps only the last ~100 messages: resuming from the gap cannot recover.
  const resumed = await stalled.reply(
    await stalled.send(FrameType.Subscribe, {
      pattern: "load.>",
      resume: { load: { epoch: gap.json.epoch, seq: gap.json.after } },
    }),
  );
  assert.equal(resumed.json.recovered, false);
  for (const c of [stalled, publisher, healthy]) c.close();
});
