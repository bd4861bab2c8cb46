import { readUtf8 } from "../../client/shared/utf8.ts";
import type { BusMessage } from "../core/message.ts";
import type { RawRecord, StoredRecords } from "../core/stored-records.ts";
import type { LogRecord } from "../log/record.ts";
import {
  CHANNEL_START,
  decodeStored,
  headersStart,
  idStart,
  Located,
  LOCATED_FIELDS,
  locateStored,
  toBusMessage,
} from "./record.ts";

/**
 * One read chunk of the log as StoredRecords: the stored messages' layouts are located once
 * (numbers in two typed arrays, no object per record), their bytes stay views of the chunk, and
 * a message is decoded only when asked for.
 */
export class LogRecords implements StoredRecords {
  readonly epoch: string;
  readonly #records: LogRecord[];
  /** LOCATED_FIELDS per record (see locateStored). */
  readonly #located: Int32Array;
  readonly #expiresAt: Float64Array;
  /** The channel last decoded, and the record whose bytes it came from (-1: none yet). */
  #channel = "";
  #channelOf = -1;

  constructor(records: LogRecord[], epoch: string) {
    this.epoch = epoch;
    this.#records = records;
    this.#located = new Int32Array(records.length * LOCATED_FIELDS);
    this.#expiresAt = new Float64Array(records.length);
    for (let i = 0; i < records.length; i++) {
      this.#expiresAt[i] = locateStored(records[i].data, this.#located, i * LOCATED_FIELDS);
    }
  }

  get length(): number {
    return this.#records.length;
  }

  seq(i: number): number {
    return this.#records[i].seq;
  }

  time(i: number): number {
    return this.#records[i].time;
  }

  expiresAt(i: number): number {
    return this.#expiresAt[i];
  }

  /** Records on the channel of the one before give its string again (no decode). */
  channel(i: number): string {
    const end = this.#field(i, Located.ChannelEnd);
    const last = this.#channelOf;
    if (last < 0 || !this.#sameChannel(i, end, last)) {
      this.#channel = readUtf8(this.#records[i].data, CHANNEL_START, end);
      this.#channelOf = i;
    }
    return this.#channel;
  }

  payloadBytes(i: number): number {
    return this.#records[i].data.length - this.#field(i, Located.HeadersEnd);
  }

  hasHeaders(i: number): boolean {
    return this.#field(i, Located.HeadersEnd) > headersStart(this.#field(i, Located.KeyEnd));
  }

  message(i: number): BusMessage {
    const r = this.#records[i];
    return toBusMessage(decodeStored(r.data), this.epoch, r.seq, r.time);
  }

  raw(i: number, into: RawRecord): boolean {
    const bytes = this.#records[i].data;
    const channelEnd = this.#field(i, Located.ChannelEnd);
    into.bytes = bytes;
    into.binary = (bytes[0] & 1) === 1;
    into.channelStart = CHANNEL_START;
    into.channelEnd = channelEnd;
    into.idStart = idStart(channelEnd);
    into.idEnd = this.#field(i, Located.IdEnd);
    into.headersStart = headersStart(this.#field(i, Located.KeyEnd));
    into.headersEnd = into.payloadStart = this.#field(i, Located.HeadersEnd);
    into.payloadEnd = bytes.length;
    return true;
  }

  #field(i: number, field: number): number {
    return this.#located[i * LOCATED_FIELDS + field];
  }

  #sameChannel(i: number, end: number, other: number): boolean {
    if (this.#field(other, Located.ChannelEnd) !== end) return false;
    const a = this.#records[i].data, b = this.#records[other].data;
    for (let o = CHANNEL_START; o < end; o++) if (a[o] !== b[o]) return false;
    return true;
  }
}
