/**
 * Message ids: unique and sortable by time. 10 characters of milliseconds (Crockford base32,
 * as ULID), then a per-process counter and a random node tag, so ids from one process sort in
 * publish order and ids from different processes never collide. Cheap: no randomness per id.
 */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function base32(n: number, width: number): string {
  let s = "";
  for (let i = 0; i < width; i++) {
    s = ALPHABET[n % 32] + s;
    n = Math.floor(n / 32);
  }
  return s;
}

function randomTag(chars: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(chars));
  let s = "";
  for (const b of bytes) s += ALPHABET[b % 32];
  return s;
}

export class IdGenerator {
  #lastTime = 0;
  #counter = 0;
  // 10 + 5 + 5 = 20 characters: the length of the Bus seed's event ids (`e_` + 20).
  readonly #tag = randomTag(5);

  /** `now` is passed in so callers that already read the clock do not read it twice. */
  next(now: number): string {
    if (now > this.#lastTime) {
      this.#lastTime = now;
      this.#counter = 0;
    } else {
      // Clock went backwards or same millisecond: stay on the last time so order holds.
      this.#counter++;
    }
    return base32(this.#lastTime, 10) + base32(this.#counter, 5) + this.#tag;
  }
}

/** A short random identifier, e.g. for epochs and client ids. */
export const randomId = (chars = 12): string => randomTag(chars).toLowerCase();

/** The publish time (ms) encoded in the first 10 characters of a message id. */
export function timeOfId(id: string): number {
  let t = 0;
  for (let i = 0; i < 10 && i < id.length; i++) t = t * 32 + Math.max(0, ALPHABET.indexOf(id[i]));
  return t;
}
