/**
 * Message ids: unique, sortable by time, and not guessable. 10 characters of milliseconds
 * (Crockford base32, as ULID), 3 of a per-millisecond counter, so ids from one process sort in
 * publish order (resume after an id relies on it), then 7 random characters (35 bits): an id
 * cannot be derived from another one, so knowing when a message was published is not enough to
 * name it (Bus acks name events by id).
 */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const COUNTER_LIMIT = 32 ** 3;
const RANDOM_CHARS = 7;
const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));
const ID_CHARS = 10 + 3 + RANDOM_CHARS;

/** Each byte gives one character: 256 is a multiple of 32, so every character is equally likely. */
function randomChars(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += ALPHABET[b % 32];
  return s;
}

export class IdGenerator {
  #lastTime = 0;
  #counter = 0;
  /** Random bytes fetched in bulk: one `getRandomValues` per 512 ids, not per id. */
  readonly #pool = new Uint8Array(RANDOM_CHARS * 512);
  #used = this.#pool.length;
  /**
   * The id's character codes, made into one flat string: concatenating the parts would leave a
   * chain of strings that lives as long as the message (in history), and the young-generation
   * GC copies every retained byte.
   */
  readonly #chars = new Array<number>(ID_CHARS).fill(0);

  /** `now` is passed in so callers that already read the clock do not read it twice. */
  next(now: number): string {
    if (now > this.#lastTime) {
      this.#lastTime = now;
      this.#counter = 0;
    } else if (++this.#counter === COUNTER_LIMIT) {
      // Same millisecond (or the clock went back): the last time stays so order holds, and
      // past 32768 ids in it the next millisecond is borrowed.
      this.#lastTime++;
      this.#counter = 0;
    }
    if (this.#used === this.#pool.length) {
      crypto.getRandomValues(this.#pool);
      this.#used = 0;
    }
    const chars = this.#chars;
    base32Into(chars, 0, 10, this.#lastTime);
    base32Into(chars, 10, 3, this.#counter);
    for (let i = 0; i < RANDOM_CHARS; i++) chars[13 + i] = CODES[this.#pool[this.#used++] % 32];
    return String.fromCharCode(...chars);
  }
}

/** Writes `n` as `width` base32 digits, most significant first, into `chars` from `at`. */
function base32Into(chars: number[], at: number, width: number, n: number): void {
  for (let i = at + width - 1; i >= at; i--) {
    chars[i] = CODES[n % 32];
    n = Math.floor(n / 32);
  }
}

/** A short random identifier, e.g. for epochs and client ids. */
export const randomId = (chars = 12): string =>
  randomChars(crypto.getRandomValues(new Uint8Array(chars))).toLowerCase();

/** The publish time (ms) encoded in the first 10 characters of a message id. */
export function timeOfId(id: string): number {
  let t = 0;
  for (let i = 0; i < 10 && i < id.length; i++) t = t * 32 + Math.max(0, ALPHABET.indexOf(id[i]));
  return t;
}
