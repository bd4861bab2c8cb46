import { CatbusError, ErrorCode } from "./errors.ts";

/**
 * Channel grammar (NATS style): tokens separated by `.`, `*` matches exactly one token and
 * `>` one or more trailing tokens. The first token is the namespace. At most 255 bytes,
 * no empty tokens, no whitespace. Wildcards must be whole tokens (`a*` is a literal error).
 */
export const MAX_SUBJECT_BYTES = 255;

/** Namespaces the server owns. `$`-prefixed ones are never matched by a leading wildcard. */
export const RESERVED_NAMESPACES = ["$sys", "_inbox", "_bus_", "sm"] as const;

/** Copies of state-machine transitions (with every instance's ctx), published by the server. */
export const SM_NAMESPACE = "sm";

/** Reserved namespaces only the server publishes to, on every door and whatever the grants. */
export const SERVER_WRITTEN_NAMESPACES: ReadonlySet<string> = new Set([
  "$sys",
  SM_NAMESPACE,
]);

const encoder = new TextEncoder();
// Control characters, space and DEL are refused anywhere in a channel.
// deno-lint-ignore no-control-regex
const FORBIDDEN_CHARS = /[\s\u0000-\u001f\u007f]/;

function byteLength(s: string): number {
  // Fast path: ASCII strings are one byte per character.
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return encoder.encode(s).length;
  }
  return s.length;
}

function checkCommon(subject: unknown, what: string): string[] {
  if (typeof subject !== "string" || subject.length === 0) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `${what} must be a non-empty string`,
    );
  }
  if (byteLength(subject) > MAX_SUBJECT_BYTES) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `${what} "${subject.slice(0, 40)}…" is longer than ${MAX_SUBJECT_BYTES} bytes`,
    );
  }
  // A lone surrogate has no UTF-8 form: such a name could be neither sent nor stored.
  if (!subject.isWellFormed()) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `${what} contains a lone UTF-16 surrogate (not valid Unicode); use whole characters`,
    );
  }
  if (FORBIDDEN_CHARS.test(subject)) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `${what} "${subject}" contains whitespace or control characters`,
    );
  }
  const tokens = subject.split(".");
  for (const t of tokens) {
    if (t.length === 0) {
      throw new CatbusError(
        ErrorCode.BadRequest,
        `${what} "${subject}" has an empty token (leading, trailing or double dot)`,
      );
    }
  }
  return tokens;
}

/**
 * Channels that passed validation recently: publishers repeat a few channels, and each publish
 * is checked by the door and again by the broker. Cleared whole when full (no LRU bookkeeping
 * on the hot path). The token arrays are shared: callers must not change them.
 */
const validChannels = new Map<string, string[]>();
const VALID_CHANNELS_MAX = 10_000;

/** Validates a concrete channel (no wildcards) and returns its tokens. */
export function parseChannel(channel: unknown): string[] {
  const known = typeof channel === "string" ? validChannels.get(channel) : undefined;
  if (known) return known;
  const tokens = checkChannel(channel);
  if (validChannels.size >= VALID_CHANNELS_MAX) validChannels.clear();
  validChannels.set(channel as string, tokens);
  return tokens;
}

function checkChannel(channel: unknown): string[] {
  const tokens = checkCommon(channel, "channel");
  for (const t of tokens) {
    if (t.includes("*") || t.includes(">")) {
      throw new CatbusError(
        ErrorCode.BadRequest,
        `channel "${channel}" contains a wildcard; publish to a concrete channel such as "orders.eu.created"`,
      );
    }
  }
  return tokens;
}

/** Validates a subscription or grant pattern and returns its tokens. */
export function parsePattern(pattern: unknown): string[] {
  const tokens = checkCommon(pattern, "pattern");
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === "*") continue;
    if (t === ">") {
      if (i !== tokens.length - 1) {
        throw new CatbusError(
          ErrorCode.BadRequest,
          `pattern "${pattern}": ">" may only be the last token (use "*" for one token in the middle)`,
        );
      }
      continue;
    }
    if (t.includes("*") || t.includes(">")) {
      throw new CatbusError(
        ErrorCode.BadRequest,
        `pattern "${pattern}": wildcards must be whole tokens ("a.*", not "a*")`,
      );
    }
  }
  return tokens;
}

/** The namespace of a concrete channel: its first token. */
export function namespaceOf(channel: string): string {
  const dot = channel.indexOf(".");
  return dot === -1 ? channel : channel.slice(0, dot);
}

/** True when the pattern can only ever match one namespace (its first token is literal). */
export function literalNamespaceOf(pattern: string): string | undefined {
  const ns = namespaceOf(pattern);
  return ns === "*" || ns === ">" ? undefined : ns;
}

/**
 * Reference matcher: does `pattern` match the concrete `channel`? Used for one-off checks
 * and as the oracle for the trie's property tests; hot paths use SubjectTrie.
 */
export function matches(pattern: string, channel: string): boolean {
  const p = pattern.split(".");
  const c = channel.split(".");
  if (c[0].startsWith("$") && (p[0] === "*" || p[0] === ">")) return false;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return c.length > i;
    if (i >= c.length) return false;
    if (p[i] !== "*" && p[i] !== c[i]) return false;
  }
  return p.length === c.length;
}

/**
 * Does `outer` cover every channel `inner` can match? Used by grants: a subscription to
 * `inner` is allowed when some read grant's pattern covers it.
 */
export function covers(outer: string, inner: string): boolean {
  // A pattern without wildcards covers itself only (most grants; no split per check).
  if (!outer.includes("*") && !outer.includes(">")) return outer === inner;
  const o = outer.split(".");
  const n = inner.split(".");
  if (n[0].startsWith("$") && (o[0] === "*" || o[0] === ">")) return false;
  for (let i = 0; i < o.length; i++) {
    if (o[i] === ">") return n.length > i;
    if (i >= n.length) return false;
    if (n[i] === ">") return false; // inner reaches deeper than a one-token slot
    if (o[i] === "*") continue;
    if (o[i] !== n[i]) return false;
  }
  return o.length === n.length;
}

/**
 * A matcher for one pattern, compiled once (for replays, which test many channels against the
 * same pattern): literal patterns compare strings, `prefix.>` checks a prefix, others compare
 * tokens.
 */
export function matcherFor(pattern: string): (channel: string) => boolean {
  if (!pattern.includes("*") && !pattern.includes(">")) {
    return (c) => c === pattern;
  }
  if (pattern.endsWith(".>") && !pattern.includes("*")) {
    const prefix = pattern.slice(0, -1);
    return (c) => c.startsWith(prefix) && c.length > prefix.length;
  }
  return (c) => matches(pattern, c);
}
