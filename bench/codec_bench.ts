// The per-message cost of the native codec: deno bench bench/codec_bench.ts
import { encodeFrame, FrameDecoder, FrameType } from "../client/shared/frame.ts";

const payload = new TextEncoder().encode(
  JSON.stringify({ text: "x".repeat(100) }),
);
const meta = {
  channel: "chat.room1.messages",
  seq: 1234,
  epoch: "k3x9a8b7",
  id: "01JD0000000000000ABCD",
  time: 1764000000000,
};
const frame = encodeFrame(FrameType.Message, 0, meta, payload);
const batch = new Uint8Array(frame.length * 100);
for (let i = 0; i < 100; i++) batch.set(frame, i * frame.length);
const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });

Deno.bench("codec - encode a 128 B message frame", () => {
  encodeFrame(FrameType.Message, 0, meta, payload);
});
Deno.bench("codec - decode 100 frames from one chunk", () => {
  let n = 0;
  decoder.push(batch, () => n++);
});
