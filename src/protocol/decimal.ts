/**
 * Whole numbers written as decimal ASCII straight into a frame, as `${n}` would write them: the
 * delivery frames' seq and time (message-frame.ts, stored-frames.ts) without a string per number.
 */

/** A number `${n}` writes as plain digits. */
export const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** How many digits `n` (see isCount) takes. */
export function countDigits(n: number): number {
  let d = 1;
  for (let p = 10; n >= p; p *= 10) d++;
  return d;
}

/**
 * Writes the decimal digits of `n` (see isCount) at `o`; returns the offset after them. Times
 * pass 2^31, where `%` and division on doubles are slow: written as two int32 halves.
 */
export function writeCount(out: Uint8Array, o: number, n: number): number {
  if (n <= 0x7fff_ffff) return writeInt(out, o, n | 0, countDigits(n));
  const high = Math.floor(n / 1e8);
  o = writeInt(out, o, high | 0, countDigits(high));
  return writeInt(out, o, (n - high * 1e8) | 0, 8);
}

/** Writes int32 `n` as `width` digits (zero-padded) at `o`. */
function writeInt(out: Uint8Array, o: number, n: number, width: number): number {
  const end = o + width;
  for (let i = end - 1; i >= o; i--) {
    const tenth = (n / 10) | 0;
    out[i] = 0x30 + n - tenth * 10;
    n = tenth;
  }
  return end;
}
