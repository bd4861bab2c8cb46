import {
  encodeFrame,
  Flag,
  FrameType,
  HEADER_BYTES,
  writeHeader,
} from "../../client/shared/frame.ts";
import { utf8, writeAscii } from "../../client/shared/utf8.ts";
import type { BusMessage } from "../core/message.ts";
import { countDigits, isCount, writeCount } from "./decimal.ts";

/**
 * The native message frame of a delivery, the server's hottest encode (once per live message,
 * once per delivery of a replay, history page or durable consumer). Its meta is
 *
 *   {"channel":C,"seq":N,"epoch":"E","id":"I","time":T[,"headers":H]<tail>}
 *
 * where `tail` is what a delivery adds (a durable consumer's name and attempt). The bytes that
 * do not change between messages of a channel (`{"channel":C,"seq":` and `,"epoch":"E","id":"`)
 * are kept per channel and copied; the rest is written into the frame as it is sized, so no
 * meta string is built per message. Ids, epochs and numbers are ASCII; headers or a tail that
 * are not fall back to the text path.
 */
export function messageFrame(m: BusMessage, requestId = 0, tail = ""): Uint8Array {
  const { head, middle } = prefixOf(m.channel, m.epoch);
  const rest = m.headers ? `,"headers":${JSON.stringify(m.headers)}${tail}}` : `${tail}}`;
  if (!isCount(m.seq) || !isCount(m.time)) return textFrame(m, requestId, rest);
  const seqDigits = countDigits(m.seq), timeDigits = countDigits(m.time);
  const metaLength = head.length + seqDigits + middle.length + m.id.length + TIME.length +
    timeDigits + rest.length;
  const out = new Uint8Array(HEADER_BYTES + metaLength + m.payload.length);
  out.set(head, HEADER_BYTES);
  let at = writeCount(out, HEADER_BYTES + head.length, m.seq);
  out.set(middle, at);
  at += middle.length;
  if (!writeAscii(out, at, m.id)) return textFrame(m, requestId, rest);
  out.set(TIME, at += m.id.length);
  at = writeCount(out, at + TIME.length, m.time);
  if (!writeAscii(out, at, rest)) return textFrame(m, requestId, rest);
  writeHeader(out, FrameType.Message, m.binary ? Flag.Binary : 0, requestId, metaLength);
  out.set(m.payload, HEADER_BYTES + metaLength);
  return out;
}

/** The same frame through a meta string (any characters: encodeFrame writes UTF-8). */
function textFrame(m: BusMessage, requestId: number, rest: string): Uint8Array {
  const meta = `{"channel":${JSON.stringify(m.channel)},"seq":${m.seq},"epoch":"${m.epoch}",` +
    `"id":"${m.id}","time":${m.time}${rest}`;
  return encodeFrame(FrameType.Message, requestId, meta, m.payload, m.binary ? Flag.Binary : 0);
}

const TIME = utf8(`","time":`);

interface ChannelPrefix {
  epoch: string;
  head: Uint8Array;
  middle: Uint8Array;
}

/** Bounded: a server with more live channels than this rebuilds prefixes, nothing worse. */
const MAX_PREFIXES = 4096;
const prefixes = new Map<string, ChannelPrefix>();

function prefixOf(channel: string, epoch: string): ChannelPrefix {
  const known = prefixes.get(channel);
  if (known?.epoch === epoch) return known;
  if (prefixes.size >= MAX_PREFIXES) prefixes.clear();
  const prefix = {
    epoch,
    head: utf8(`{"channel":${JSON.stringify(channel)},"seq":`),
    middle: utf8(`,"epoch":"${epoch}","id":"`),
  };
  prefixes.set(channel, prefix);
  return prefix;
}
