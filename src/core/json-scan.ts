/**
 * A strict JSON validator over UTF-8 bytes (RFC 8259) that builds nothing: it reports where
 * values start and end, so a payload can be checked and then stored as the very bytes that
 * were published — `12345678901234567890`, `1.0` and `1e2` stay as written.
 */

import { decodeValidUtf8 } from "../../client/shared/utf8.ts";

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** What is wrong with a text: not UTF-8, nested deeper than allowed, or not JSON. */
export type JsonProblem = "utf8" | "depth" | "syntax";

export class JsonSyntaxError extends Error {
  constructor(readonly offset: number, what: string, readonly problem: JsonProblem = "syntax") {
    super(`${what} at byte ${offset}`);
  }
}

/** An unexpected byte: one that cannot start any UTF-8 text is a UTF-8 problem, not syntax. */
const unexpected = (b: Uint8Array, i: number, what: string) =>
  b[i] >= 0x80
    ? new JsonSyntaxError(i, "invalid UTF-8", "utf8")
    : new JsonSyntaxError(i, b[i] === undefined ? "unexpected end" : what);

export function skipSpace(b: Uint8Array, i: number): number {
  while (i < b.length) {
    const c = b[i];
    if (c !== SPACE && c !== LF && c !== CR && c !== TAB) break;
    i++;
  }
  return i;
}

const isDigit = (c: number) => c >= ZERO && c <= NINE;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** The end of the UTF-8 sequence starting at `i` (a byte ≥ 0x80), or throws. */
function skipUtf8(b: Uint8Array, i: number): number {
  const c = b[i];
  // Continuation bytes, and the smallest code point that needs them (no overlong forms).
  const n = c >= 0xc2 && c <= 0xdf
    ? 1
    : c >= 0xe0 && c <= 0xef
    ? 2
    : c >= 0xf0 && c <= 0xf4
    ? 3
    : 0;
  if (n === 0) throw new JsonSyntaxError(i, "invalid UTF-8", "utf8");
  const min = n === 1 ? 0x80 : n === 2 ? 0x800 : 0x10000;
  let cp = c & (0x3f >> n);
  for (let k = 1; k <= n; k++) {
    const d = b[i + k];
    if (d === undefined || (d & 0xc0) !== 0x80) {
      throw new JsonSyntaxError(i, "invalid UTF-8", "utf8");
    }
    cp = (cp << 6) | (d & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    throw new JsonSyntaxError(i, "invalid UTF-8", "utf8");
  }
  return i + n + 1;
}

/** `i` is at the opening quote; returns the index after the closing quote. */
export function skipString(b: Uint8Array, i: number): number {
  i++;
  for (;;) {
    const c = b[i];
    if (c === undefined) throw new JsonSyntaxError(i, "unterminated string");
    if (c === QUOTE) return i + 1;
    if (c < 0x20) throw new JsonSyntaxError(i, "control character in string");
    if (c === BACKSLASH) {
      const e = b[i + 1];
      if (e === 0x75) {
        for (let k = 2; k < 6; k++) {
          if (!isHex(b[i + k])) throw new JsonSyntaxError(i, "bad \\u escape");
        }
        i += 6;
      } else if (
        e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 ||
        e === 0x6e || e === 0x72 || e === 0x74
      ) i += 2;
      else throw new JsonSyntaxError(i, "bad escape");
    } else if (c >= 0x80) i = skipUtf8(b, i);
    else i++;
  }
}

function skipNumber(b: Uint8Array, i: number): number {
  const start = i;
  if (b[i] === MINUS) i++;
  if (b[i] === ZERO) i++;
  else if (isDigit(b[i])) { while (isDigit(b[i])) i++; }
  else throw new JsonSyntaxError(start, "bad number");
  if (b[i] === DOT) {
    i++;
    if (!isDigit(b[i])) throw new JsonSyntaxError(start, "bad number");
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === PLUS || b[i] === MINUS) i++;
    if (!isDigit(b[i])) throw new JsonSyntaxError(start, "bad number");
    while (isDigit(b[i])) i++;
  }
  return i;
}

const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

function skipLiteral(b: Uint8Array, i: number, word: number[]): number {
  for (let k = 0; k < word.length; k++) {
    if (b[i + k] !== word[k]) throw new JsonSyntaxError(i, "unexpected token");
  }
  return i + word.length;
}

/**
 * `i` is at a value (no leading space); returns the index right after it. `depth` is how many
 * arrays and objects enclose it; one nested deeper than `maxDepth` levels is refused.
 */
export function skipValue(b: Uint8Array, i: number, depth: number, maxDepth: number): number {
  const c = b[i];
  if (c === QUOTE) return skipString(b, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    if (depth >= maxDepth) {
      throw new JsonSyntaxError(i, `nesting deeper than ${maxDepth}`, "depth");
    }
    const object = c === OPEN_BRACE;
    const close = object ? CLOSE_BRACE : CLOSE_BRACKET;
    i = skipSpace(b, i + 1);
    if (b[i] === close) return i + 1;
    for (;;) {
      if (object) {
        if (b[i] !== QUOTE) throw unexpected(b, i, "expected a member name");
        i = skipSpace(b, skipString(b, i));
        if (b[i] !== COLON) throw unexpected(b, i, "expected ':'");
        i = skipSpace(b, i + 1);
      }
      i = skipSpace(b, skipValue(b, i, depth + 1, maxDepth));
      if (b[i] === close) return i + 1;
      if (b[i] !== COMMA) throw unexpected(b, i, `expected ',' or '${object ? "}" : "]"}'`);
      i = skipSpace(b, i + 1);
    }
  }
  if (c === MINUS || isDigit(c)) return skipNumber(b, i);
  if (c === 0x74) return skipLiteral(b, i, TRUE);
  if (c === 0x66) return skipLiteral(b, i, FALSE);
  if (c === 0x6e) return skipLiteral(b, i, NULL);
  throw unexpected(b, i, "unexpected token");
}

/**
 * What is wrong with `b` as one JSON value (surrounding whitespace allowed) nested at most
 * `maxDepth` levels; undefined when nothing is.
 */
export function jsonTextProblem(b: Uint8Array, maxDepth: number): JsonProblem | undefined {
  try {
    const end = skipSpace(b, skipValue(b, skipSpace(b, 0), 0, maxDepth));
    if (end !== b.length) throw unexpected(b, end, "unexpected data");
    return undefined;
  } catch (e) {
    if (e instanceof JsonSyntaxError) return problemOf(e, b);
    throw e;
  }
}

/** Invalid UTF-8 anywhere is the problem reported first, wherever the scan stopped. */
export function problemOf(e: JsonSyntaxError, b: Uint8Array): JsonProblem {
  return e.problem !== "utf8" && decodeValidUtf8(b) === undefined ? "utf8" : e.problem;
}

/** One member of an object: its name (decoded) and where its value's bytes are. */
export interface JsonMember {
  name: string;
  start: number;
  end: number;
}

const decoder = new TextDecoder();

/**
 * `i` is at `{`, inside `depth` arrays and objects: validates the object (at most `maxDepth`
 * levels deep, counting its own) and returns its members in order, with the index after it.
 * Names are decoded; values are only located.
 */
export function scanObject(
  b: Uint8Array,
  i: number,
  depth: number,
  maxDepth: number,
): { members: JsonMember[]; end: number } {
  if (b[i] !== OPEN_BRACE) throw unexpected(b, i, "expected an object");
  if (depth >= maxDepth) throw new JsonSyntaxError(i, `nesting deeper than ${maxDepth}`, "depth");
  const members: JsonMember[] = [];
  i = skipSpace(b, i + 1);
  if (b[i] === CLOSE_BRACE) return { members, end: i + 1 };
  for (;;) {
    if (b[i] !== QUOTE) throw unexpected(b, i, "expected a member name");
    const nameEnd = skipString(b, i);
    const raw = b.subarray(i, nameEnd);
    // Names without escapes (all of them, in practice) need no JSON parse.
    const name = raw.includes(BACKSLASH)
      ? JSON.parse(decoder.decode(raw))
      : decoder.decode(raw.subarray(1, raw.length - 1));
    i = skipSpace(b, nameEnd);
    if (b[i] !== COLON) throw unexpected(b, i, "expected ':'");
    const start = skipSpace(b, i + 1);
    const end = skipValue(b, start, depth + 1, maxDepth);
    members.push({ name, start, end });
    i = skipSpace(b, end);
    if (b[i] === CLOSE_BRACE) return { members, end: i + 1 };
    if (b[i] !== COMMA) throw unexpected(b, i, "expected ',' or '}'");
    i = skipSpace(b, i + 1);
  }
}
