import type { BusMessage } from "./message.ts";

/**
 * Where one stored record's parts lie in its bytes (see StoredRecords.raw). Filled in place by
 * the engine, so reading a run of records allocates nothing per record.
 */
export interface RawRecord {
  bytes: Uint8Array;
  binary: boolean;
  channelStart: number;
  channelEnd: number;
  idStart: number;
  idEnd: number;
  /** The headers as the JSON text they were stored as; an empty range when none. */
  headersStart: number;
  headersEnd: number;
  payloadStart: number;
  payloadEnd: number;
}

/** A RawRecord to fill (one per writer, reused for every record). */
export const rawRecord = (): RawRecord => ({
  bytes: new Uint8Array(0),
  binary: false,
  channelStart: 0,
  channelEnd: 0,
  idStart: 0,
  idEnd: 0,
  headersStart: 0,
  headersEnd: 0,
  payloadStart: 0,
  payloadEnd: 0,
});

/**
 * One batch of a namespace's stored messages as its engine read them, oldest first. A replay
 * filters it on what these give without decoding a message (position, expiry, channel) and,
 * where the engine keeps the stored bytes (`raw`), writes each delivery frame by copying them:
 * replay is a copy, not a decode and an encode (bench/replay.ts measures it).
 */
export interface StoredRecords {
  readonly length: number;
  /** The namespace's epoch: every record's position is in it. */
  readonly epoch: string;
  seq(i: number): number;
  time(i: number): number;
  /** ms since the epoch after which the record is not delivered; 0 = never. */
  expiresAt(i: number): number;
  /** The channel; a run of records on one channel gives the same string (decoded once). */
  channel(i: number): string;
  payloadBytes(i: number): number;
  hasHeaders(i: number): boolean;
  /** The record as a message (decoded on demand). */
  message(i: number): BusMessage;
  /** Fills `into` with where record `i`'s parts lie; false when the engine holds no bytes. */
  raw(i: number, into: RawRecord): boolean;
}

/** Messages an engine read as objects (a shared engine), seen as StoredRecords without bytes. */
export class MessageRecords implements StoredRecords {
  readonly epoch: string;
  readonly #messages: BusMessage[];

  constructor(messages: BusMessage[], epoch: string) {
    this.#messages = messages;
    this.epoch = epoch;
  }

  get length(): number {
    return this.#messages.length;
  }

  seq(i: number): number {
    return this.#messages[i].seq;
  }
  time(i: number): number {
    return this.#messages[i].time;
  }
  expiresAt(i: number): number {
    return this.#messages[i].expiresAt ?? 0;
  }
  channel(i: number): string {
    return this.#messages[i].channel;
  }
  payloadBytes(i: number): number {
    return this.#messages[i].payload.length;
  }
  hasHeaders(i: number): boolean {
    return this.#messages[i].headers !== undefined;
  }
  message(i: number): BusMessage {
    return this.#messages[i];
  }
  raw(): boolean {
    return false;
  }
}
