import { concat } from "../../client/shared/bytes.ts";

/** WebSocket opcodes (RFC 6455 §5.2). */
export const Opcode = {
  Continuation: 0,
  Text: 1,
  Binary: 2,
  Close: 8,
  Ping: 9,
  Pong: 10,
} as const;

/** Close codes this side sends (RFC 6455 §7.4.1). */
export const CloseCode = {
  Normal: 1000,
  ProtocolError: 1002,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidData: 1007,
  TooBig: 1009,
} as const;

/** A close code a peer may put on the wire: 1000–1003, 1007–1014, 3000–4999. */
export const isSendableCloseCode = (code: number): boolean =>
  (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
  (code >= 3000 && code <= 4999);

/** A server frame (never masked, FIN set): header and payload in one buffer. */
export function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const headerSize = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = new Uint8Array(headerSize + n);
  frame[0] = 0x80 | opcode;
  if (n < 126) frame[1] = n;
  else if (n < 65536) {
    frame[1] = 126;
    frame[2] = n >>> 8;
    frame[3] = n & 0xff;
  } else {
    frame[1] = 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(n));
  }
  frame.set(payload, headerSize);
  return frame;
}

const encoder = new TextEncoder();

/**
 * A text message as a server frame, encoded once: one notification fanned out to many sockets
 * is one buffer, queued on each (`ServerWebSocket.sendFrame`).
 */
export const textFrame = (text: string): Uint8Array =>
  encodeFrame(Opcode.Text, encoder.encode(text));

/** What the reader hands on: whole messages, control frames, and why it stopped. */
export interface FrameEvents {
  message(opcode: typeof Opcode.Text | typeof Opcode.Binary, data: Uint8Array): void;
  control(opcode: number, payload: Uint8Array): void;
  /** The peer broke the protocol: close with `code`; nothing more is read. */
  error(code: number, reason: string): void;
}

/**
 * Reads client frames fed in pieces of any size: unmasks them (client frames must be masked),
 * joins fragmented messages, and refuses what RFC 6455 forbids: reserved bits (no extension is
 * negotiated), unknown opcodes, long or fragmented control frames, stray continuations, and
 * messages over `maxMessageBytes` (before buffering them).
 */
export class FrameReader {
  readonly #maxMessage: number;
  readonly #events: FrameEvents;
  /** Header bytes read so far; they wait in `#partial` when a read ends inside the header. */
  #headerLength = 0;
  #partial: Uint8Array | undefined;
  /** The frame being read (after its header). */
  #opcode = 0;
  #fin = false;
  /** Its mask key, byte `k` in bits `8k..8k+7`. */
  #mask = 0;
  #payload: Uint8Array | undefined;
  #filled = 0;
  /** A fragmented message: its opcode and the fragments so far. */
  #messageOpcode = 0;
  #fragments: Uint8Array[] | undefined;
  #fragmentBytes = 0;
  #failed = false;

  constructor(maxMessageBytes: number, events: FrameEvents) {
    this.#maxMessage = maxMessageBytes;
    this.#events = events;
  }

  feed(bytes: Uint8Array): void {
    if (this.#partial) {
      header.set(this.#partial);
      this.#partial = undefined;
    }
    let i = 0;
    while (i < bytes.length && !this.#failed) {
      if (!this.#payload) {
        i = this.#readHeader(bytes, i);
        continue;
      }
      const payload = this.#payload;
      const n = Math.min(payload.length - this.#filled, bytes.length - i);
      const at = this.#filled;
      payload.set(bytes.subarray(i, i + n), at);
      unmask(payload, at, at + n, this.#mask);
      this.#filled += n;
      i += n;
      if (this.#filled === payload.length) this.#frameDone();
    }
    // Most connections are idle between whole frames: only a split header is kept per reader.
    if (this.#headerLength > 0 && !this.#failed) {
      this.#partial = header.slice(0, this.#headerLength);
    }
  }

  /** Takes header bytes from `bytes` at `i`; once the header is whole, starts its payload. */
  #readHeader(bytes: Uint8Array, i: number): number {
    const h = header;
    while (i < bytes.length) {
      h[this.#headerLength++] = bytes[i++];
      const need = this.#headerLength < 2 ? 2 : headerSize(h[1]);
      if (this.#headerLength === need) {
        this.#headerLength = 0;
        this.#startFrame();
        return i;
      }
    }
    return i;
  }

  #startFrame() {
    const h = header;
    const opcode = h[0] & 0x0f;
    const fin = (h[0] & 0x80) !== 0;
    if (h[0] & 0x70) return this.#fail(CloseCode.ProtocolError, "reserved bits set");
    if (!(h[1] & 0x80)) return this.#fail(CloseCode.ProtocolError, "client frames must be masked");
    let length = h[1] & 0x7f;
    let maskAt = 2;
    if (length === 126) {
      length = (h[2] << 8) | h[3];
      maskAt = 4;
    } else if (length === 127) {
      const big = new DataView(h.buffer).getBigUint64(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        return this.#fail(CloseCode.TooBig, "frame too large");
      }
      length = Number(big);
      maskAt = 10;
    }
    this.#mask = (h[maskAt] | (h[maskAt + 1] << 8) | (h[maskAt + 2] << 16) |
      (h[maskAt + 3] << 24)) >>> 0;
    if (opcode >= 8) {
      if (opcode > Opcode.Pong) return this.#fail(CloseCode.ProtocolError, "unknown opcode");
      if (!fin || length > 125) {
        return this.#fail(CloseCode.ProtocolError, "control frames must be whole and short");
      }
    } else if (opcode === Opcode.Continuation) {
      if (!this.#messageOpcode) return this.#fail(CloseCode.ProtocolError, "stray continuation");
    } else if (opcode > Opcode.Binary) {
      return this.#fail(CloseCode.ProtocolError, "unknown opcode");
    } else if (this.#messageOpcode) {
      return this.#fail(CloseCode.ProtocolError, "a new message inside a fragmented one");
    }
    if (opcode < 8 && this.#fragmentBytes + length > this.#maxMessage) {
      return this.#fail(CloseCode.TooBig, `message over ${this.#maxMessage} bytes`);
    }
    this.#opcode = opcode;
    this.#fin = fin;
    this.#payload = new Uint8Array(length);
    this.#filled = 0;
    if (length === 0) this.#frameDone();
  }

  #frameDone() {
    const payload = this.#payload!;
    this.#payload = undefined;
    const opcode = this.#opcode;
    if (opcode >= 8) return this.#events.control(opcode, payload);
    if (this.#fin && opcode !== Opcode.Continuation) {
      return this.#events.message(opcode as 1 | 2, payload);
    }
    if (opcode !== Opcode.Continuation) this.#messageOpcode = opcode;
    (this.#fragments ??= []).push(payload);
    this.#fragmentBytes += payload.length;
    if (!this.#fin) return;
    const fragments = this.#fragments!;
    const message = fragments.length === 1 ? fragments[0] : concat(fragments);
    const messageOpcode = this.#messageOpcode as 1 | 2;
    this.#fragments = undefined;
    this.#fragmentBytes = 0;
    this.#messageOpcode = 0;
    this.#events.message(messageOpcode, message);
  }

  #fail(code: number, reason: string) {
    this.#failed = true;
    this.#events.error(code, reason);
  }
}

/**
 * Where every reader parses a frame header, which it reads whole within one `feed` (or restores
 * from its `#partial` first): one buffer for all connections.
 */
const header = new Uint8Array(14);
/** A word of four bytes read on this platform equals the mask key's bits (little-endian). */
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * XORs `payload[from..to)` in place with the mask key, byte `j` with key byte `j % 4`: a word at
 * a time where the payload (allocated for the frame, so 4-byte aligned) and the platform allow.
 */
function unmask(payload: Uint8Array, from: number, to: number, key: number) {
  let j = from;
  while (j < to && (j & 3) !== 0) payload[j] ^= key >>> ((j & 3) << 3), j++;
  const words = (to - j) >>> 2;
  if (littleEndian && words > 0 && payload.byteOffset % 4 === 0) {
    const view = new Uint32Array(payload.buffer, payload.byteOffset + j, words);
    for (let w = 0; w < words; w++) view[w] ^= key;
    j += words * 4;
  }
  for (; j < to; j++) payload[j] ^= key >>> ((j & 3) << 3);
}

/** The size of a client frame's header, from its second byte (masked: 4 key bytes). */
const headerSize = (second: number) => {
  const length = second & 0x7f;
  return (length < 126 ? 2 : length === 126 ? 4 : 10) + ((second & 0x80) ? 4 : 0);
};
