import assert from "node:assert/strict";
import type { DoorMeter } from "../core/meter.ts";
import { ReplyPermits } from "../core/replies.ts";
import { LogRecords } from "../streams/log-records.ts";
import { encodeStored } from "../streams/record.ts";
import { meteredReplies } from "./metered.ts";
import { replaySubscriber } from "./subscribe.ts";

Deno.test("replay subscriber - records copied from storage are metered as deliveries and replays, and a replayed request may be answered", () => {
  const now = Date.now();
  const records = new LogRecords(
    [undefined, { reply_to: "_inbox.q.1" }, undefined].map((headers, i) => ({
      seq: i + 1,
      time: now,
      data: encodeStored({
        channel: "app.x",
        id: `i${i}`,
        binary: true,
        payload: new Uint8Array(10 + i),
        headers,
        expiresAt: 0,
        key: "",
      }),
    })),
    "e",
  );
  const counted: string[] = [];
  const meter: DoorMeter = {
    published: () => {},
    delivered: (ns, bytes) => counted.push(`delivered ${ns} ${bytes}`),
    replayed: (ns, bytes) => counted.push(`replayed ${ns} ${bytes}`),
    dropped: () => {},
  };
  const holder = meteredReplies(new ReplyPermits({ windowMs: 60_000, max: 10 }), meter)
    .holder("conn");
  const sent: number[] = [];
  const sub = replaySubscriber({
    send: () => assert.fail("records are not sent as messages"),
    sendStored: (r, picks, from, to) => {
      for (let k = from; k < to; k++) sent.push(r.seq(picks[k]));
      return to;
    },
    ready: () => undefined,
    gone: () => false,
  }, holder);
  assert.equal(sub.deliverStored!(records, Int32Array.of(0, 1, 2), 0, 3), 3);
  assert.deepEqual(sent, [1, 2, 3]);
  assert.deepEqual(counted.sort(), [
    "delivered app 10",
    "delivered app 11",
    "delivered app 12",
    "replayed app 10",
    "replayed app 11",
    "replayed app 12",
  ]);
  assert.equal(holder.take("_inbox.q.1"), true, "the replayed request's reply is permitted");
});
