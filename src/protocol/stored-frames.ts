import { Flag, FrameType, HEADER_BYTES } from "../../client/shared/frame.ts";
import { utf8 } from "../../client/shared/utf8.ts";
import type { OutboundQueue } from "../core/outbound-queue.ts";
import { rawRecord, type StoredRecords } from "../core/stored-records.ts";
import { countDigits, isCount, writeCount } from "./decimal.ts";
import { messageFrame } from "./message-frame.ts";

// The pieces of a message frame's meta (see message-frame.ts) around a stored record's own bytes.
const CHANNEL = utf8(`{"channel":"`);
const SEQ = utf8(`","seq":`);
const EPOCH = utf8(`,"epoch":"`);
const ID = utf8(`","id":"`);
const TIME = utf8(`","time":`);
const HEADERS = utf8(`,"headers":`);
const FIXED_META = CHANNEL.length + SEQ.length + EPOCH.length + ID.length + TIME.length + 1;
const QUOTE = 0x22, BACKSLASH = 0x5c;

/** Most bytes of frames put in one buffer: the outbound queue's write size. */
const BUFFER_BYTES = 256 * 1024;

/**
 * Queues the message frames of `records`' picks `from…to` while `queue` is below its limit (at
 * least one; the limit is checked before each frame, as a replay pushing frame by frame would),
 * as buffers of many frames each; returns the index after the last one queued.
 */
export function queueStoredFrames(
  queue: OutboundQueue,
  records: StoredRecords,
  picks: Int32Array,
  from: number,
  to: number,
): number {
  let k = from;
  do {
    const room = Math.min(BUFFER_BYTES, queue.maxBytes - queue.pendingBytes);
    const frames = new StoredFrames(records, picks, k, to, room);
    queue.push(frames.write(), false);
    k = frames.end;
  } while (k < to && queue.pendingBytes < queue.maxBytes);
  return k;
}

/**
 * The native frames of a run of stored records, each what messageFrame makes of the record's
 * message, written by copying the record's channel, id, headers (stored as the JSON text
 * the meta carries) and payload around the fixed parts of the meta: no string and no
 * message per record (bench/replay.ts). A record this cannot copy as it is (a channel JSON
 * must escape, a time that is not a whole number) is encoded as a message.
 */
class StoredFrames {
  readonly end: number;
  readonly #records: StoredRecords;
  readonly #picks: Int32Array;
  readonly #from: number;
  readonly #epoch: Uint8Array;
  readonly #raw = rawRecord();
  /** Frames size; encoded frames of the records that are not copied, by pick index. */
  #size = 0;
  #encoded?: Map<number, Uint8Array>;

  constructor(records: StoredRecords, picks: Int32Array, from: number, to: number, room: number) {
    this.#records = records;
    this.#picks = picks;
    this.#from = from;
    this.#epoch = utf8(records.epoch);
    let k = from;
    do this.#size += this.#frameSize(k++); while (k < to && this.#size < room);
    this.end = k;
  }

  write(): Uint8Array {
    const out = new Uint8Array(this.#size);
    let o = 0;
    for (let k = this.#from; k < this.end; k++) {
      const encoded = this.#encoded?.get(k);
      if (encoded) {
        out.set(encoded, o);
        o += encoded.length;
      } else o = this.#writeFrame(out, o, k);
    }
    return out;
  }

  #frameSize(k: number): number {
    const records = this.#records, i = this.#picks[k], raw = this.#raw;
    const time = records.time(i);
    if (records.raw(i, raw) && isCount(time) && !needsEscape(raw)) {
      let meta = FIXED_META + raw.channelEnd - raw.channelStart + countDigits(records.seq(i)) +
        this.#epoch.length + raw.idEnd - raw.idStart + countDigits(time);
      if (raw.headersEnd > raw.headersStart) {
        meta += HEADERS.length + raw.headersEnd - raw.headersStart;
      }
      return HEADER_BYTES + meta + raw.payloadEnd - raw.payloadStart;
    }
    const frame = messageFrame(records.message(i));
    (this.#encoded ??= new Map()).set(k, frame);
    return frame.length;
  }

  #writeFrame(out: Uint8Array, start: number, k: number): number {
    const records = this.#records, i = this.#picks[k], raw = this.#raw;
    records.raw(i, raw);
    const bytes = raw.bytes;
    let o = put(out, start + HEADER_BYTES, CHANNEL, 0, CHANNEL.length);
    o = put(out, o, bytes, raw.channelStart, raw.channelEnd);
    o = put(out, o, SEQ, 0, SEQ.length);
    o = writeCount(out, o, records.seq(i));
    o = put(out, o, EPOCH, 0, EPOCH.length);
    o = put(out, o, this.#epoch, 0, this.#epoch.length);
    o = put(out, o, ID, 0, ID.length);
    o = put(out, o, bytes, raw.idStart, raw.idEnd);
    o = put(out, o, TIME, 0, TIME.length);
    o = writeCount(out, o, records.time(i));
    if (raw.headersEnd > raw.headersStart) {
      o = put(out, o, HEADERS, 0, HEADERS.length);
      o = put(out, o, bytes, raw.headersStart, raw.headersEnd);
    }
    out[o++] = 0x7d; // }
    const metaLength = o - start - HEADER_BYTES;
    out.set(bytes.subarray(raw.payloadStart, raw.payloadEnd), o);
    o += raw.payloadEnd - raw.payloadStart;
    writeUint32(out, start, o - start - 4);
    out[start + 4] = FrameType.Message;
    out[start + 5] = raw.binary ? Flag.Binary : 0;
    writeUint32(out, start + 6, 0);
    writeUint32(out, start + 10, metaLength);
    return o;
  }
}

/** Copies `from[start…end)` to `out` at `o` (short runs: a loop beats a subarray and a set). */
function put(out: Uint8Array, o: number, from: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) out[o++] = from[i];
  return o;
}

function writeUint32(out: Uint8Array, o: number, n: number): void {
  out[o] = n >>> 24;
  out[o + 1] = n >>> 16;
  out[o + 2] = n >>> 8;
  out[o + 3] = n;
}

/** Whether JSON.stringify would escape a byte of the channel (a quote or a backslash). */
function needsEscape(raw: { bytes: Uint8Array; channelStart: number; channelEnd: number }) {
  for (let i = raw.channelStart; i < raw.channelEnd; i++) {
    const c = raw.bytes[i];
    if (c === QUOTE || c === BACKSLASH || c < 0x20) return true;
  }
  return false;
}
