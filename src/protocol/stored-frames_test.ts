import assert from "node:assert/strict";
import { concat } from "../../client/shared/bytes.ts";
import { OutboundQueue } from "../core/outbound-queue.ts";
import { MessageRecords, type StoredRecords } from "../core/stored-records.ts";
import { LogRecords } from "../streams/log-records.ts";
import { encodeStored, type StoredMessage } from "../streams/record.ts";
import { messageFrame } from "./message-frame.ts";
import { queueStoredFrames } from "./stored-frames.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** Stored messages of every shape the frame writer copies, or hands to messageFrame. */
const shapes: (Partial<StoredMessage> & { seq: number; time: number })[] = [
  { seq: 1, time: 1_700_000_000_123 },
  { seq: 2, time: 1_700_000_000_123, binary: true, payload: new Uint8Array([0, 255, 7]) },
  { seq: 3, time: 0, headers: { "2": "b", z: "ü\u2028", "1": "a", "__proto__": "p" } },
  { seq: 4, time: 9, channel: "app.üñí.😀", id: "é1" },
  { seq: 5, time: 10, channel: 'app.q"uote' }, // JSON escapes it: encoded as a message
  { seq: 9, time: 10, channel: "app.back\\slash" },
  { seq: 6, time: 10.5 }, // not a whole number: encoded as a message
  { seq: 2 ** 40 + 3, time: 2 ** 52, expiresAt: 1.5, key: "k" },
  { seq: 8, time: 11, payload: new Uint8Array(0), headers: {} },
  { seq: 2 ** 31, time: 2 ** 31 - 1 },
  { seq: 10 ** 8, time: 10 ** 16 },
];

function records(epoch = "ep0ch"): LogRecords {
  return new LogRecords(
    shapes.map(({ seq, time, ...m }) => ({
      seq,
      time,
      data: encodeStored({
        channel: "app.orders.eu",
        id: `id${seq}`,
        binary: false,
        payload: text(`{"n":${seq}}`),
        expiresAt: 0,
        key: "",
        ...m,
      }),
    })),
    epoch,
  );
}

/** A queue whose writes are collected; its flushes run in a microtask. */
function collecting(maxBytes = 1 << 20) {
  const writes: Uint8Array[] = [];
  const queue = new OutboundQueue({ write: (b) => void writes.push(b) }, {
    maxBytes,
    maxBatchBytes: 1,
  });
  return { queue, writes };
}

const all = (r: StoredRecords) => Int32Array.from({ length: r.length }, (_, i) => i);

Deno.test("stored frames - a stored record's frame is the bytes messageFrame makes of its message", async () => {
  const r = records();
  const { queue, writes } = collecting();
  assert.equal(queueStoredFrames(queue, r, all(r), 0, r.length), r.length);
  await queue.drained();
  const expected = Array.from({ length: r.length }, (_, i) => messageFrame(r.message(i)));
  assert.equal(writes.length, 1, "one buffer for the run");
  assert.deepEqual(writes[0], concat(expected));
  // Records without bytes (a shared engine's) are encoded as messages into the same buffer.
  const objects = new MessageRecords(expected.map((_, i) => r.message(i)), r.epoch);
  const other = collecting();
  queueStoredFrames(other.queue, objects, Int32Array.of(7, 0), 0, 2);
  await other.queue.drained();
  assert.deepEqual(other.writes[0], concat([expected[7], expected[0]]));
});

Deno.test("stored frames - only the picks from…to, each limit checked before a frame as frame-by-frame pushes would", async () => {
  const r = records();
  const sizes = Array.from({ length: r.length }, (_, i) => messageFrame(r.message(i)).length);
  // Room for the first two frames and one byte: the third still goes in, the fourth waits.
  const { queue, writes } = collecting(sizes[1] + sizes[2] + 1);
  const picks = Int32Array.of(0, 1, 2, 3, 4, 5);
  assert.equal(queueStoredFrames(queue, r, picks, 1, 6), 4);
  assert.equal(queue.pendingBytes, sizes[1] + sizes[2] + sizes[3]);
  await queue.drained();
  assert.equal(queueStoredFrames(queue, r, picks, 4, 5), 5, "stops at `to`");
  await queue.drained();
  assert.deepEqual(concat(writes), concat([1, 2, 3, 4].map((i) => messageFrame(r.message(i)))));
  // A full queue still takes one frame (the caller waits for room after it).
  const full = collecting(1);
  full.queue.push(new Uint8Array(8), false);
  assert.equal(queueStoredFrames(full.queue, r, picks, 0, 6), 1);
});
