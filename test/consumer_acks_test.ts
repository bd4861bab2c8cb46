import assert from "node:assert/strict";
import { encodeFrame, FrameType } from "../client/shared/frame.ts";
import { nativeClient } from "./helpers/native.ts";
import { startCatbusd } from "./helpers/catbusd.ts";
import { RawConnection, type ReceivedFrame } from "./helpers/raw.ts";
import { AsyncQueue } from "./helpers/queue.ts";

const delivery = (seq: number, attempt: number) => (f: ReceivedFrame) =>
  f.type === FrameType.Message && f.json.seq === seq && f.json.attempt === attempt;

Deno.test("consumer acks - one frame settles many seqs, each refusal alone; what it acked (a redelivered one too) stays acked after a restart", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-acks-" });
  const first = await startCatbusd([], { data });
  const c = await nativeClient(first);
  const [s1, s2, s3] = await Promise.all(
    [1, 2, 3].map(async (n) => (await c.publish("jobs.work", n)).seq),
  );
  await c.createConsumer({
    name: "w",
    pattern: "jobs.>",
    from: "first",
    ackWait: 1000,
    maxDeliver: 0,
  });
  const raw = await RawConnection.connect(first.tcpPort);
  await raw.hello(first.adminKey);
  assert.equal(
    (await raw.reply(await raw.send(FrameType.Consume, { name: "w" }))).type,
    FrameType.Ok,
  );
  for (const seq of [s1, s2, s3]) await raw.next(delivery(seq, 1), `#${seq}`);
  // Left unacked past its ack wait, #s1 comes again; its ack settles it all the same.
  await raw.next(delivery(s1, 2), `#${s1} again`);

  const answer = await raw.reply(
    await raw.send(FrameType.Ack, { consumer: "w", seqs: [s1, s2, s1, 999_999] }),
  );
  assert.equal(answer.type, FrameType.Ok);
  const failed = answer.json.failed as { seq: number; code: string }[];
  assert.deepEqual(failed.map((f) => [f.seq, f.code]), [[s1, "not_found"], [999_999, "not_found"]]);

  // Without a request id, only the refused seq comes back (as a notice).
  await raw.write(encodeFrame(FrameType.Ack, 0, { consumer: "w", seqs: [s3, 999_998] }));
  const notice = await raw.next((f) => f.type === FrameType.Notice, "an ack_failed notice");
  assert.deepEqual([notice.json.event, notice.json.seq, notice.json.code], [
    "ack_failed",
    999_998,
    "not_found",
  ]);
  const [info] = await c.listConsumers();
  assert.equal(info.pending, 0);
  raw.close();
  await c.disconnect();
  await first.stop();

  const second = await startCatbusd([], { data });
  const c2 = await nativeClient(second);
  const got = new AsyncQueue<unknown>();
  await c2.consume("w", (m) => got.push(m.payload));
  await c2.publish("jobs.work", 4);
  // Anything still pending would be delivered before the new message.
  assert.equal(await got.next(), 4);
  await c2.disconnect();
  await second.stop();
  await Deno.remove(data, { recursive: true });
});

Deno.test("consumer acks - a malformed seqs list is a bad request and settles nothing", async () => {
  await using server = await startCatbusd();
  const c = await nativeClient(server);
  const { seq } = await c.publish("jobs.work", 1);
  await c.createConsumer({ name: "w", pattern: "jobs.>", from: "first" });
  const raw = await RawConnection.connect(server.tcpPort);
  await raw.hello(server.adminKey);
  await raw.reply(await raw.send(FrameType.Consume, { name: "w" }));
  await raw.next(delivery(seq, 1), `#${seq}`);
  for (const seqs of [[], [seq, "x"], [seq, 0], "1"]) {
    const answer = await raw.reply(await raw.send(FrameType.Ack, { consumer: "w", seqs }));
    assert.deepEqual(
      [answer.type, answer.json.code],
      [FrameType.Error, "bad_request"],
      `seqs ${JSON.stringify(seqs)}`,
    );
  }
  const [info] = await c.listConsumers();
  assert.equal(info.pending, 1);
  raw.close();
  await c.disconnect();
});
