import assert from "node:assert/strict";
import { CloseCode, encodeFrame, FrameReader, Opcode } from "./websocket-frames.ts";

/** A client frame: masked with `key`. */
function clientFrame(opcode: number, payload: Uint8Array, fin = true, key = [1, 2, 3, 4]) {
  const server = encodeFrame(opcode, payload);
  const header = server.subarray(0, server.length - payload.length);
  const out = new Uint8Array(header.length + 4 + payload.length);
  out.set(header);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] |= 0x80;
  out.set(key, header.length);
  payload.forEach((b, i) => out[header.length + 4 + i] = b ^ key[i & 3]);
  return out;
}

function read(max: number, ...frames: Uint8Array[]) {
  const events: unknown[] = [];
  const reader = new FrameReader(max, {
    message: (opcode, data) => events.push(["message", opcode, new TextDecoder().decode(data)]),
    control: (opcode, payload) => events.push(["control", opcode, payload.length]),
    error: (code) => events.push(["error", code]),
  });
  const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let off = 0;
  for (const f of frames) all.set(f, (off += f.length) - f.length);
  // One byte at a time: every split of a header, a mask or a payload.
  for (let i = 0; i < all.length; i++) reader.feed(all.subarray(i, i + 1));
  return events;
}

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("websocket frames - masked, fragmented with a ping between, long lengths", () => {
  const long = "x".repeat(70_000);
  assert.deepEqual(
    read(
      1 << 20,
      clientFrame(Opcode.Text, text("hel"), false),
      clientFrame(Opcode.Ping, text("p")),
      clientFrame(Opcode.Continuation, text("lo")),
      clientFrame(Opcode.Binary, text(long)),
    ),
    [["control", Opcode.Ping, 1], ["message", Opcode.Text, "hello"], ["message", 2, long]],
  );
});

Deno.test("websocket frames - what RFC 6455 forbids is a protocol error; too big is 1009", () => {
  const unmasked = encodeFrame(Opcode.Binary, text("a"));
  assert.deepEqual(read(100, unmasked), [["error", CloseCode.ProtocolError]]);
  assert.deepEqual(read(100, clientFrame(Opcode.Continuation, text("a"))), [[
    "error",
    CloseCode.ProtocolError,
  ]]);
  assert.deepEqual(read(100, clientFrame(Opcode.Ping, text("a"), false)), [[
    "error",
    CloseCode.ProtocolError,
  ]]);
  assert.deepEqual(read(100, clientFrame(3, text("a"))), [["error", CloseCode.ProtocolError]]);
  const rsv = clientFrame(Opcode.Binary, text("a"));
  rsv[0] |= 0x40;
  assert.deepEqual(read(100, rsv), [["error", CloseCode.ProtocolError]]);
  assert.deepEqual(
    read(4, clientFrame(Opcode.Binary, text("abc"), false), clientFrame(0, text("de"))),
    [["error", CloseCode.TooBig]],
  );
});

Deno.test("websocket frames - readers fed in turn keep their own split headers and keys", () => {
  const got: string[][] = [[], []];
  const readers = [0, 1].map((r) =>
    new FrameReader(1 << 20, {
      message: (_opcode, data) => got[r].push(new TextDecoder().decode(data)),
      control: () => {},
      error: (code) => got[r].push(`error ${code}`),
    })
  );
  const long = "y".repeat(300);
  const streams = [
    [clientFrame(Opcode.Text, text(long), true, [9, 8, 7, 6]), clientFrame(Opcode.Text, text("a"))],
    [clientFrame(Opcode.Binary, text("bcdefgh"), true, [0xff, 0, 0x80, 0x7f])],
  ].map((frames) => frames.flatMap((f) => [...f]));
  // Byte by byte, alternating: every header of one reader is split around the other's bytes.
  for (let i = 0; i < Math.max(...streams.map((s) => s.length)); i++) {
    for (const r of [0, 1]) {
      if (i < streams[r].length) readers[r].feed(new Uint8Array([streams[r][i]]));
    }
  }
  // Whole, too: the payload is unmasked a word at a time.
  readers[1].feed(new Uint8Array(streams[0]));
  assert.deepEqual(got, [[long, "a"], ["bcdefgh", long, "a"]]);
});
