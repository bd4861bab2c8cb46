import assert from "node:assert/strict";
import { concat } from "../../client/shared/bytes.ts";
import {
  type DecodeEvent,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  parseMeta,
} from "../../client/shared/frame.ts";
import { publishMetaOf, readPlainPublishMeta } from "./publish-meta.ts";

/** Metas the plain reader takes itself. */
const PLAIN = [
  '{"channel":"orders.eu"}',
  '{"channel":"a.b","key":"k-1","ttl":5000,"request":true,"timeout":100}',
  '{"channel":"a.b","confirm":2,"confirmTimeout":0,"request":false,"key":null}',
  '{"channel":"a.b","headers":{"reply_to":"_inbox.x.1","b":"","1":"one"}}',
  '{"channel":"a.b","headers":{}}',
  '{"channel":"a.b","headers":null}',
  '{"channel":"a.b","headers":"not an object"}',
  '{ "channel" : "a.b" ,\n\t"ttl" :\r 7 }\n',
  '{"channel":"a.b","channel":"c.d"}',
  '{"channel":5}',
  '{"channel":true,"ttl":"5","confirm":123456789012345}',
  "{}",
];

/** Metas left to JSON.parse: valid but not plain, then malformed ones (each refused). */
const NOT_PLAIN = [
  '{"channel":"a.\\u0062"}',
  '{"channel":"caf\u00e9.x"}',
  '{"channel":"a.b","other":1}',
  '{"channel":"a.b","ttl":1.5}',
  '{"channel":"a.b","ttl":-1}',
  '{"channel":"a.b","ttl":1e3}',
  '{"channel":"a.b","ttl":1234567890123456}',
  '{"channel":"a.b","headers":{"x":1}}',
  '{"channel":"a.b","headers":{"__proto__":"x"}}',
  '{"channel":"a.b","headers":{"x":{"y":"z"}}}',
  '{"channel":["a.b"]}',
  '{"__proto__":{"channel":"a.b"}}',
  "",
  // malformed
  '{"channel":"a.b"',
  '{"channel":"a.b"}x',
  '{"channel":"a.b"}}',
  '{"channel":"a.b",}',
  '{"channel" "a.b"}',
  '{"channel":"a.b" "ttl":1}',
  '{"channel":"a\tb"}',
  '{"channel":"a.b","ttl":01}',
  '{"channel":"a.b","request":tru}',
  '{"channel":"a.b","request":truex}',
  '{channel:"a.b"}',
  '{"channel":"a.b","headers":{"x":"y"}',
  '{"channel":"a.b","headers":{"x":}}',
  '{"channel":"a.b","headers":{,}}',
  '["channel","a.b"]',
  '"channel"',
  "null",
  "5",
  "{",
  "}",
  " ",
];
const INVALID_UTF8 = new Uint8Array([
  ...new TextEncoder().encode('{"channel":"a'),
  0xff,
  0x22,
  0x7d,
]);

const publishFrame = (meta: string | Uint8Array, id = 1) =>
  encodeFrame(FrameType.Publish, id, meta === "" ? undefined : meta, new Uint8Array([1]));

const frameOf = (meta: string | Uint8Array): Frame => {
  let frame: Frame | undefined;
  new FrameDecoder({ maxFrameBytes: 1 << 20 }).push(publishFrame(meta), (e) => {
    if (e.kind === "frame") frame = e.frame;
  });
  return frame!;
};

/** The old path's answer: the parsed meta, or the error it threw (name and message). */
function outcome(read: () => unknown): unknown {
  try {
    return { meta: read() };
  } catch (e) {
    return { error: (e as Error).name, message: (e as Error).message };
  }
}

const same = (frame: Frame, label: string) =>
  assert.deepStrictEqual(
    outcome(() => publishMetaOf(frame)),
    outcome(() => parseMeta(frame)),
    label,
  );

Deno.test("publish meta - the plain shape is read without JSON.parse, as JSON.parse reads it", () => {
  for (const text of PLAIN) {
    const frame = frameOf(text);
    assert.notEqual(readPlainPublishMeta(frame.meta), undefined, text);
    same(frame, text);
  }
});

Deno.test("publish meta - anything else goes to JSON.parse: same meta, same refusal", () => {
  for (const text of NOT_PLAIN) {
    const frame = frameOf(text);
    assert.equal(readPlainPublishMeta(frame.meta), undefined, text);
    same(frame, text);
  }
  const frame = frameOf(INVALID_UTF8);
  assert.equal(readPlainPublishMeta(frame.meta), undefined);
  same(frame, "invalid UTF-8");
  assert.throws(() => publishMetaOf(frame), /not valid UTF-8/);
});

Deno.test("publish meta - frames fed one byte at a time read the same", () => {
  const metas = [...PLAIN, ...NOT_PLAIN, INVALID_UTF8];
  const stream = concat(metas.map((m, i) => publishFrame(m, i + 1)));
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
  const frames: Frame[] = [];
  const take = (e: DecodeEvent) => e.kind === "frame" && frames.push(e.frame);
  for (let i = 0; i < stream.length; i++) decoder.push(stream.subarray(i, i + 1), take);
  assert.equal(frames.length, metas.length);
  for (const frame of frames) same(frame, String(metas[frame.id - 1]));
});

Deno.test("publish meta - the channel kept from the last publish is never handed to another", () => {
  const a = publishMetaOf(frameOf('{"channel":"x.aa"}')).channel;
  const again = publishMetaOf(frameOf('{"channel":"x.aa","ttl":1}')).channel;
  assert.equal(again, a);
  assert.equal(publishMetaOf(frameOf('{"channel":"x.ab"}')).channel, "x.ab");
  assert.equal(publishMetaOf(frameOf('{"channel":"x.aa"}')).channel, "x.aa");
  const long = `a.${"b".repeat(300)}`;
  assert.equal(publishMetaOf(frameOf(`{"channel":"${long}"}`)).channel, long);
});
