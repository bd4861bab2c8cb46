const encoder = new TextEncoder();

/**
 * Encodes `text` as UTF-8 into `out` at `offset` (which must have `text.length * 3` bytes of
 * room) and returns the number of bytes written. ASCII — nearly every channel, id and meta
 * object — is copied in a plain loop, which is several times cheaper than a TextEncoder call
 * for short strings (see bench/codec_bench.ts).
 */
export function writeUtf8(
  out: Uint8Array,
  offset: number,
  text: string,
): number {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) {
      return i +
        encoder.encodeInto(text.slice(i), out.subarray(offset + i)).written;
    }
    out[offset + i] = c;
  }
  return n;
}

/** Writes `text` at `offset` if it is all ASCII (returns true); otherwise returns false. */
export function writeAscii(
  out: Uint8Array,
  offset: number,
  text: string,
): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return false;
    out[offset + i] = c;
  }
  return true;
}

/** How many bytes `writeUtf8` writes for `text` (ASCII counted without encoding it). */
export function utf8Length(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return encoder.encode(text).length;
  }
  return text.length;
}

/** UTF-8 bytes of `text` (exact length). */
export function utf8(text: string): Uint8Array {
  const buf = new Uint8Array(text.length * 3);
  return buf.slice(0, writeUtf8(buf, 0, text));
}

const decoder = new TextDecoder();

/**
 * Decodes UTF-8 `bytes[start, end)`. Short ASCII strings (channels, ids) are built directly,
 * which avoids a TextDecoder call per field when replaying stored messages.
 */
export function readUtf8(
  bytes: Uint8Array,
  start: number,
  end: number,
): string {
  if (end - start > 64) return decoder.decode(bytes.subarray(start, end));
  let s = "";
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c > 0x7f) return decoder.decode(bytes.subarray(start, end));
    s += String.fromCharCode(c);
  }
  return s;
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** The text of UTF-8 `bytes`, or undefined when they are not valid UTF-8 (nothing replaced). */
export function decodeValidUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}
