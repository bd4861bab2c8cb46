const CR = 13, LF = 10;

/** A chunk-size line (with its extensions) or a trailer line longer than this is refused. */
const MAX_LINE = 4096;

type State = "size" | "data" | "data-end" | "trailer" | "done";

/**
 * Decodes a chunked request body (RFC 9112 §7.1) fed in pieces of any size. Chunk extensions
 * are ignored; trailers are read and dropped, at most `maxTrailerBytes` of them.
 */
export class ChunkedDecoder {
  #state: State = "size";
  #line: number[] = [];
  #remaining = 0;
  #trailerBytes = 0;
  readonly #maxTrailerBytes: number;

  constructor(maxTrailerBytes: number) {
    this.#maxTrailerBytes = maxTrailerBytes;
  }

  get done(): boolean {
    return this.#state === "done";
  }

  /**
   * Decodes from `bytes`, handing each piece of body to `data` (a view into `bytes`). Returns how
   * many bytes were used (less than all once the body ended), or an error message.
   */
  feed(bytes: Uint8Array, data: (piece: Uint8Array) => void): number | string {
    let i = 0;
    while (i < bytes.length && this.#state !== "done") {
      switch (this.#state) {
        case "data": {
          const n = Math.min(this.#remaining, bytes.length - i);
          data(bytes.subarray(i, i + n));
          i += n;
          if ((this.#remaining -= n) === 0) this.#state = "data-end";
          break;
        }
        case "data-end": {
          const want = this.#line.length === 0 ? CR : LF;
          if (bytes[i++] !== want) return "a chunk must end in CRLF";
          if (want === CR) this.#line.push(CR);
          else {
            this.#line = [];
            this.#state = "size";
          }
          break;
        }
        default: {
          const b = bytes[i++];
          if (b !== LF) {
            if (this.#line.length === MAX_LINE) return "a chunk-size or trailer line is too long";
            this.#line.push(b);
            break;
          }
          if (this.#line.pop() !== CR) return "chunk lines must end in CRLF";
          const error = this.#state === "size" ? this.#sizeLine() : this.#trailerLine();
          if (error) return error;
          this.#line = [];
        }
      }
    }
    return i;
  }

  #sizeLine(): string | undefined {
    let end = this.#line.indexOf(59); // ';' starts the extensions
    if (end < 0) end = this.#line.length;
    const hex = String.fromCharCode(...this.#line.slice(0, end));
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) return "invalid chunk size";
    const size = parseInt(hex, 16);
    if (size === 0) this.#state = "trailer";
    else {
      this.#remaining = size;
      this.#state = "data";
    }
  }

  #trailerLine(): string | undefined {
    if (this.#line.length === 0) {
      this.#state = "done";
      return;
    }
    this.#trailerBytes += this.#line.length + 2;
    if (this.#trailerBytes > this.#maxTrailerBytes) {
      return `trailers over ${this.#maxTrailerBytes} bytes`;
    }
  }
}
