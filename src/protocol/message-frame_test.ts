import assert from "node:assert/strict";
import {
  encodeFrame,
  Flag,
  type Frame,
  FrameDecoder,
  FrameType,
  parseMeta,
} from "../../client/shared/frame.ts";
import type { BusMessage } from "../core/message.ts";
import { messageFrame } from "./message-frame.ts";

/** The frame as the meta string of earlier releases built it: the bytes must not change. */
function reference(m: BusMessage, requestId = 0, tail = ""): Uint8Array {
  let meta = `{"channel":${JSON.stringify(m.channel)},"seq":${m.seq},"epoch":"${m.epoch}",` +
    `"id":"${m.id}","time":${m.time}`;
  if (m.headers) meta += `,"headers":${JSON.stringify(m.headers)}`;
  return encodeFrame(
    FrameType.Message,
    requestId,
    meta + tail + "}",
    m.payload,
    m.binary ? Flag.Binary : 0,
  );
}

const message = (fields: Partial<BusMessage> = {}): BusMessage => ({
  channel: "orders.eu",
  seq: 42,
  epoch: "e1x2",
  id: "01JEXAMPLE000ABCDEFG",
  time: 1_764_000_000_123,
  payload: new TextEncoder().encode('{"n":1}'),
  binary: false,
  ...fields,
});

const CASES: [string, BusMessage, number?, string?][] = [
  ["plain", message()],
  ["seq 0, time 0", message({ seq: 0, time: 0 })],
  ["seq 9", message({ seq: 9 })],
  ["seq 10", message({ seq: 10 })],
  ["seq 99", message({ seq: 99 })],
  ["large seq", message({ seq: Number.MAX_SAFE_INTEGER })],
  ["binary", message({ binary: true, payload: new Uint8Array([0, 255, 7]) })],
  ["empty payload", message({ payload: new Uint8Array(0) })],
  ["headers", message({ headers: { reply_to: "_inbox.a.1", b: "" } })],
  ["unicode headers", message({ headers: { note: "café ✓" } })],
  ["unicode channel", message({ channel: "chat.café" })],
  ["quote in channel", message({ channel: 'a."b' })],
  ["another epoch, same channel", message({ epoch: "e9" })],
  ["non-ASCII id", message({ id: "ïd" })],
  ["request id", message(), 77],
  ["consumer tail", message(), 0, ',"consumer":"c-1","attempt":3'],
  ["tail and headers", message({ headers: { x: "y" } }), 5, ',"consumer":"c","attempt":1'],
];

Deno.test("message frame - the bytes are the meta string's, for every kind of message", () => {
  for (const [label, m, id, tail] of CASES) {
    assert.deepEqual(messageFrame(m, id, tail), reference(m, id, tail), label);
  }
});

Deno.test("message frame - the prefix kept per channel follows its epoch", () => {
  const before = message({ epoch: "old" }), after = message({ epoch: "new" });
  assert.deepEqual(messageFrame(before), reference(before));
  assert.deepEqual(messageFrame(after), reference(after));
  assert.deepEqual(messageFrame(before), reference(before));
});

Deno.test("message frame - decodes one byte at a time into the message's meta", () => {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
  const m = message({ headers: { a: "b" } });
  const bytes = messageFrame(m, 3);
  for (let i = 0; i < bytes.length; i++) {
    decoder.push(bytes.subarray(i, i + 1), (e) => e.kind === "frame" && frames.push(e.frame));
  }
  assert.equal(frames.length, 1);
  assert.equal(frames[0].id, 3);
  assert.deepEqual(parseMeta(frames[0]), {
    channel: m.channel,
    seq: m.seq,
    epoch: m.epoch,
    id: m.id,
    time: m.time,
    headers: m.headers,
  });
  assert.deepEqual(frames[0].data, m.payload);
});
