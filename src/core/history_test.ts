import assert from "node:assert/strict";
import { History } from "./history.ts";
import { type BusMessage, messageBytes } from "./message.ts";

const message = (seq: number, payloadBytes: number): BusMessage => ({
  epoch: "e",
  seq,
  channel: "a.b",
  id: `m${seq}`,
  time: seq,
  payload: new Uint8Array(payloadBytes),
  binary: true,
});

Deno.test("history - the byte limit evicts the oldest messages before the message limit does", () => {
  const size = messageBytes(message(1, 100));
  const history = new History({ maxMessages: 100, maxBytes: 3 * size });
  for (let seq = 1; seq <= 10; seq++) history.append(message(seq, 100));
  assert.equal(history.length, 3, "three messages fit in the byte limit");
  assert.equal(history.firstSeq, 8);
  assert.deepEqual(history.after(7, 10)?.map((m) => m.seq), [8, 9, 10]);
  assert.equal(history.after(5, 10), undefined, "part of the gap was evicted");
  // One message larger than the limit is still kept, alone.
  history.append(message(11, 10 * size));
  assert.deepEqual(history.all().map((m) => m.seq), [11]);
});
