import { concat } from "./bytes.ts";
import assert from "node:assert/strict";
import {
  type DecodeEvent,
  encodeFrame,
  Flag,
  FrameDecoder,
  FrameType,
  parseMeta,
} from "./frame.ts";

const collect = (decoder: FrameDecoder, chunks: Uint8Array[]) => {
  const events: DecodeEvent[] = [];
  for (const c of chunks) decoder.push(c, (e) => events.push(e));
  return events;
};
const bytesOf = (...frames: Uint8Array[]) => concat(frames);

Deno.test("frame - layout is length, type, flags, id, meta length, meta, data", () => {
  const f = encodeFrame(
    FrameType.Publish,
    7,
    { channel: "a.b" },
    new Uint8Array([1, 2]),
    Flag.Binary,
  );
  const meta = new TextEncoder().encode('{"channel":"a.b"}');
  assert.deepEqual(
    [...f.subarray(0, 14)],
    [0, 0, 0, 10 + meta.length + 2, 5, 1, 0, 0, 0, 7, 0, 0, 0, meta.length],
  );
  assert.deepEqual([...f.subarray(14, 14 + meta.length)], [...meta]);
  assert.deepEqual([...f.subarray(14 + meta.length)], [1, 2]);
});

Deno.test("frame - decoding one byte at a time yields the same frames", () => {
  const a = encodeFrame(
    FrameType.Publish,
    1,
    { channel: "x" },
    new TextEncoder().encode("[1]"),
  );
  const b = encodeFrame(FrameType.Ping, 0xffffffff);
  const c = encodeFrame(
    FrameType.Message,
    0,
    { channel: "y" },
    new Uint8Array(300).fill(9),
    Flag.Binary,
  );
  const all = bytesOf(a, b, c);
  const whole = collect(new FrameDecoder({ maxFrameBytes: 1024 }), [all]);
  const bytewise = collect(
    new FrameDecoder({ maxFrameBytes: 1024 }),
    [...all].map((byte) => new Uint8Array([byte])),
  );
  assert.equal(whole.length, 3);
  const view = (es: DecodeEvent[]) =>
    es.map((e) =>
      e.kind === "frame" ? { ...e.frame, meta: [...e.frame.meta], data: [...e.frame.data] } : e
    );
  assert.deepEqual(view(bytewise), view(whole));
  const first = whole[0];
  assert.ok(first.kind === "frame");
  assert.deepEqual(parseMeta(first.frame), { channel: "x" });
  assert.equal(whole[1].kind === "frame" && whole[1].frame.id, 0xffffffff);
});

Deno.test("frame - an oversize frame is skipped whole and the stream stays in sync", () => {
  const big = encodeFrame(
    FrameType.Publish,
    3,
    { channel: "a" },
    new Uint8Array(5000),
  );
  const next = encodeFrame(FrameType.Ping, 4);
  const all = bytesOf(big, next);
  for (const split of [1, 17, 2000, all.length]) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < all.length; i += split) {
      chunks.push(all.slice(i, i + split));
    }
    const events = collect(new FrameDecoder({ maxFrameBytes: 1024 }), chunks);
    assert.equal(events.length, 2, `split ${split}`);
    assert.deepEqual(events[0], {
      kind: "oversize",
      type: FrameType.Publish,
      id: 3,
      length: big.length - 4,
    });
    assert.ok(events[1].kind === "frame" && events[1].frame.id === 4);
  }
});

Deno.test("frame - garbage is reported as corrupt once and then ignored", () => {
  const d = new FrameDecoder({ maxFrameBytes: 1024 });
  const events = collect(d, [
    new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"),
    encodeFrame(9, 1),
  ]);
  assert.equal(events.length, 1);
  assert.equal(events[0].kind, "corrupt");
});

Deno.test("frame - a meta length beyond the frame is corrupt", () => {
  const f = encodeFrame(FrameType.Ping, 1, { a: 1 });
  new DataView(f.buffer).setUint32(10, 999);
  const events = collect(new FrameDecoder({ maxFrameBytes: 1024 }), [f]);
  assert.equal(events[0].kind, "corrupt");
});

Deno.test("frame - meta must be a JSON object", () => {
  const frame = {
    type: 1,
    flags: 0,
    id: 1,
    meta: new TextEncoder().encode("[1]"),
    data: new Uint8Array(),
  };
  assert.throws(() => parseMeta(frame), TypeError);
  assert.throws(
    () => parseMeta({ ...frame, meta: new TextEncoder().encode("{") }),
    SyntaxError,
  );
});

Deno.test("frame - a large frame fed one byte at a time is copied a bounded number of times", () => {
  const frame = encodeFrame(
    FrameType.Publish,
    5,
    { channel: "a" },
    new Uint8Array(1 << 20).fill(7),
  );
  const next = encodeFrame(FrameType.Ping, 6);
  const all = bytesOf(frame, next);
  const decoder = new FrameDecoder({ maxFrameBytes: 2 << 20 });
  const events: DecodeEvent[] = [];
  for (let i = 0; i < all.length; i++) {
    decoder.push(all.subarray(i, i + 1), (e) => events.push(e));
  }
  assert.equal(events.length, 2);
  assert.ok(
    events[0].kind === "frame" && events[0].frame.data.length === 1 << 20,
  );
  assert.ok(events[0].frame.data.every((b) => b === 7));
  assert.ok(events[1].kind === "frame" && events[1].frame.id === 6);
  // Copying everything pending on every chunk would be ~all.length² / 2 (about 5 × 10¹¹).
  assert.ok(
    decoder.copiedBytes <= 3 * all.length,
    `copied ${decoder.copiedBytes} bytes`,
  );
});

Deno.test("frame - frames split anywhere across chunks decode the same, oversize ones too", () => {
  const frames = [
    encodeFrame(
      FrameType.Publish,
      1,
      { channel: "x" },
      new Uint8Array(3000).fill(1),
    ),
    encodeFrame(
      FrameType.Publish,
      2,
      { channel: "y" },
      new Uint8Array(5000).fill(2),
    ),
    encodeFrame(FrameType.Ping, 3),
  ];
  const all = bytesOf(...frames);
  const view = (es: DecodeEvent[]) =>
    es.map((e) =>
      e.kind === "frame" ? `frame ${e.frame.id} ${e.frame.data.length}` : JSON.stringify(e)
    );
  const whole = view(collect(new FrameDecoder({ maxFrameBytes: 4096 }), [all]));
  assert.equal(whole.length, 3);
  assert.match(whole[1], /oversize/);
  for (const split of [2, 13, 14, 15, 999, 4100]) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < all.length; i += split) {
      chunks.push(all.slice(i, i + split));
    }
    assert.deepEqual(
      view(collect(new FrameDecoder({ maxFrameBytes: 4096 }), chunks)),
      whole,
    );
  }
});
