const encoder = new TextEncoder();

/**
 * Encodes `text` as UTF-8 into `out` at `offset` (which must have `text.length * 3` bytes of
 * room) and returns the number of bytes written. ASCII — nearly every channel, id and meta
 * object — is copied in a plain loop, which is several times cheaper than a TextEncoder call
 * for short strings (see bench/codec_bench.ts).
 */
export function writeUtf8(out: Uint8Array, offset: number, text: string): number {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) {
      return i + encoder.encodeInto(text.slice(i), out.subarray(offset + i)).written;
    }
    out[offset + i] = c;
  }
  return n;
}

/** UTF-8 bytes of `text` (exact length). */
export function utf8(text: string): Uint8Array {
  const buf = new Uint8Array(text.length * 3);
  return buf.slice(0, writeUtf8(buf, 0, text));
}
