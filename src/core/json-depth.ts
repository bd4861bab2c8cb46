/** Default of `--max-json-depth`: rstmdb's limit, so its clients see the same answer. */
export const DEFAULT_MAX_JSON_DEPTH = 128;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * True when JSON text (a string, or its UTF-8 bytes) nests arrays and objects deeper than
 * `max`. A linear scan counting brackets outside strings, without recursion: safe on any input,
 * valid JSON or not. Every door checks here before it parses, because code after the parse
 * (canonical JSON, JSON.stringify of WAL entries and snapshots) recurses once per level.
 */
export function exceedsJsonDepth(json: string | Uint8Array, max: number): boolean {
  const at = typeof json === "string" ? (i: number) => json.charCodeAt(i) : (i: number) => json[i];
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = at(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--;
  }
  return false;
}

/** The refusal every door gives for too deep input (each with its own error code). */
export const jsonTooDeep = (what: string, max: number): string =>
  `${what} nests arrays and objects deeper than ${max} levels (the server's --max-json-depth); ` +
  "send flatter JSON";
