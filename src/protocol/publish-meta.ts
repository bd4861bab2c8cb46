import { type Frame, parseMeta } from "../../client/shared/frame.ts";
import type { PublishMeta } from "../../client/shared/messages.ts";

/**
 * A publish frame's meta, read straight from its bytes: the hottest parse of the server (one per
 * message), and its meta is nearly always a flat object such as `{"channel":"orders.eu"}`. Only
 * the plain shape is read here — the known keys, ASCII strings without escapes, whole numbers,
 * `true`/`false`/`null`, headers as an object of such strings, JSON whitespace — into exactly
 * what `JSON.parse` gives for it. Anything else (escapes, other characters, other keys or
 * values, malformed text) goes to `parseMeta`, so it is read, or refused with the same error, as
 * before.
 */
export function publishMetaOf(frame: Frame): PublishMeta {
  return readPlainPublishMeta(frame.meta) ?? parseMeta<PublishMeta>(frame);
}

const QUOTE = 0x22, BACKSLASH = 0x5c, COLON = 0x3a, COMMA = 0x2c;
const OPEN = 0x7b, CLOSE = 0x7d, ZERO = 0x30, NINE = 0x39;
const KEYS = [
  "channel",
  "headers",
  "key",
  "ttl",
  "request",
  "timeout",
  "confirm",
  "confirmTimeout",
];
/** Whole numbers of up to 15 digits are exact as doubles, as JSON.parse reads them. */
const MAX_DIGITS = 15;
const LITERALS: [string, boolean | null][] = [["true", true], ["false", false], ["null", null]];

/** A reader of the plain shape; each method returns undefined where the text leaves it. */
class Plain {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}

  /** Skips JSON whitespace; returns the next byte (NaN at the end). */
  peek(): number {
    const b = this.bytes;
    let c = b[this.at];
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++this.at];
    return c ?? NaN;
  }

  /**
   * At a quote: steps over an ASCII string without escapes or control characters and returns
   * where its text ends (it starts after the quote), or -1.
   */
  span(): number {
    const b = this.bytes;
    for (let c = b[++this.at]; c !== QUOTE; c = b[++this.at]) {
      if (!(c >= 0x20 && c < 0x7f) || c === BACKSLASH) return -1;
    }
    return this.at++;
  }

  string(): string | undefined {
    const start = this.at + 1, end = this.span();
    return end < 0 ? undefined : latin1(this.bytes, start, end);
  }

  /** A key of `keys` (the constant itself: no string is built), at a quote. */
  knownKey(keys: readonly string[]): string | undefined {
    const b = this.bytes, start = this.at + 1, end = this.span();
    return keys.find((k) => {
      if (k.length !== end - start) return false;
      for (let i = 0; i < k.length; i++) if (b[start + i] !== k.charCodeAt(i)) return false;
      return true;
    });
  }

  /** A string, a whole number, or a literal. */
  scalar(): string | number | boolean | null | undefined {
    const b = this.bytes;
    const c = this.peek();
    if (c === QUOTE) return this.string();
    if (c >= ZERO && c <= NINE) {
      const start = this.at;
      let n = 0;
      while (b[this.at] >= ZERO && b[this.at] <= NINE) n = n * 10 + b[this.at++] - ZERO;
      const digits = this.at - start;
      return digits > MAX_DIGITS || (c === ZERO && digits > 1) ? undefined : n;
    }
    for (const [word, value] of LITERALS) {
      if (this.word(word)) return value;
    }
    return undefined;
  }

  word(word: string): boolean {
    for (let i = 0; i < word.length; i++) {
      if (this.bytes[this.at + i] !== word.charCodeAt(i)) return false;
    }
    this.at += word.length;
    return true;
  }

  /** `{` members `}`, each key by `key` and each value by `value`. */
  object<T>(
    key: () => string | undefined,
    value: (key: string) => T | undefined,
  ): Record<string, T> | undefined {
    if (this.peek() !== OPEN) return undefined;
    this.at++;
    const out: Record<string, T> = {};
    if (this.peek() === CLOSE) {
      this.at++;
      return out;
    }
    for (;;) {
      const k = this.peek() === QUOTE ? key() : undefined;
      if (k === undefined || this.peek() !== COLON) return undefined;
      this.at++;
      const v = value(k);
      if (v === undefined) return undefined;
      out[k] = v;
      const next = this.peek();
      this.at++;
      if (next === CLOSE) return out;
      if (next !== COMMA) return undefined;
    }
  }
}

/** The meta when it has the plain shape, else undefined (exported for its tests). */
export function readPlainPublishMeta(bytes: Uint8Array): PublishMeta | undefined {
  if (bytes.length === 0) return undefined;
  const p = new Plain(bytes);
  const meta = p.object<unknown>(() => p.knownKey(KEYS), (key) => {
    if (key === "channel" && p.peek() === QUOTE) return channel(p);
    return key === "headers" && p.peek() === OPEN ? headers(p) : p.scalar();
  });
  // Text after the object is malformed: JSON.parse says how.
  return meta && Number.isNaN(p.peek()) ? meta as unknown as PublishMeta : undefined;
}

/** Headers of string values; `__proto__` is left to JSON.parse (an own key there, not here). */
const headers = (p: Plain) =>
  p.object<string>(
    () => {
      const key = p.string();
      return key === "__proto__" ? undefined : key;
    },
    () => p.peek() === QUOTE ? p.string() : undefined,
  );

const latin1 = (b: Uint8Array, start: number, end: number): string => {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]);
  return s;
};

/**
 * The last channel read and its bytes: consecutive publishes nearly always name one channel,
 * and handing out the same string spares building it and lets every map keyed by the channel
 * find its hash already computed.
 */
const lastBytes = new Uint8Array(64);
let lastLength = -1, lastChannel = "";

function channel(p: Plain): string | undefined {
  const b = p.bytes, start = p.at + 1, end = p.span();
  if (end < 0) return undefined;
  const n = end - start;
  if (n === lastLength) {
    let i = 0;
    while (i < n && b[start + i] === lastBytes[i]) i++;
    if (i === n) return lastChannel;
  }
  const s = latin1(b, start, end);
  if (n <= lastBytes.length) {
    lastBytes.set(b.subarray(start, end));
    lastLength = n;
    lastChannel = s;
  }
  return s;
}
