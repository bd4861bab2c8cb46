import { concat } from "../../client/shared/bytes.ts";
import nacl from "tweetnacl";
import { sha256 } from "../auth/crypto.ts";
import { LogKeyError } from "./errors.ts";

export const BLOCK_SIZES = [4096, 8192, 16384] as const;
export type BlockSize = typeof BLOCK_SIZES[number];

export interface EncryptionOptions {
  secret: string;
  /** Largest plaintext sealed at once (default 4096). */
  blockSize?: BlockSize;
}

const KEY_CHECK = new TextEncoder().encode("catbus-log-key-check-v1");

/**
 * At-rest encryption of record data with NaCl secretbox (XSalsa20-Poly1305, via tweetnacl), key
 * = SHA-256(secret) as the Bus seed does. A record's data is sealed in blocks of at most
 * `blockSize` plaintext bytes, each with its own random nonce and MAC:
 *
 *   repeat: sealedLength:u32 nonce(24) box(sealedLength)
 *
 * so memory per decryption step is bounded and a damaged block is detected on its own. Sequence
 * numbers and times stay in clear (the index needs them); payloads, channels and ids do not.
 */
export class RecordCipher {
  readonly #key: Uint8Array;
  readonly blockSize: BlockSize;

  private constructor(key: Uint8Array, blockSize: BlockSize) {
    this.#key = key;
    this.blockSize = blockSize;
  }

  static async create(options: EncryptionOptions): Promise<RecordCipher> {
    const blockSize = options.blockSize ?? 4096;
    if (!BLOCK_SIZES.includes(blockSize)) {
      throw new RangeError(`block size ${blockSize} is not one of ${BLOCK_SIZES.join(", ")}`);
    }
    return new RecordCipher(await sha256(options.secret), blockSize);
  }

  seal(plain: Uint8Array): Uint8Array {
    const parts: Uint8Array[] = [];
    for (let off = 0; off < plain.length || off === 0; off += this.blockSize) {
      const nonce = nacl.randomBytes(nacl.secretbox.nonceLength);
      const box = nacl.secretbox(plain.subarray(off, off + this.blockSize), nonce, this.#key);
      const head = new Uint8Array(4 + nonce.length);
      new DataView(head.buffer).setUint32(0, box.length);
      head.set(nonce, 4);
      parts.push(head, box);
      if (plain.length === 0) break;
    }
    return concat(parts);
  }

  open(sealed: Uint8Array): Uint8Array {
    const parts: Uint8Array[] = [];
    const view = new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    for (let o = 0; o < sealed.length;) {
      if (sealed.length - o < 28) throw this.#fail();
      const length = view.getUint32(o);
      const nonce = sealed.subarray(o + 4, o + 28);
      const box = sealed.subarray(o + 28, o + 28 + length);
      const plain = box.length === length ? nacl.secretbox.open(box, nonce, this.#key) : null;
      if (!plain) throw this.#fail();
      parts.push(plain);
      o += 28 + length;
    }
    return parts.length === 1 ? parts[0] : concat(parts);
  }

  /** Sealed known bytes, stored beside the log so a wrong key is caught at open. */
  keyCheck(): Uint8Array {
    return this.seal(KEY_CHECK);
  }

  verifyKeyCheck(sealed: Uint8Array): void {
    let plain: Uint8Array;
    try {
      plain = this.open(sealed);
    } catch {
      throw new LogKeyError(
        "the encryption secret does not match the one this data was written with; " +
          "start with the original secret (--encryption-secret / BUS_SECRET_KEY)",
      );
    }
    if (plain.length !== KEY_CHECK.length || !plain.every((b, i) => b === KEY_CHECK[i])) {
      throw new LogKeyError("the key check file is not a Catbus key check");
    }
  }

  #fail() {
    return new LogKeyError(
      "a record failed authentication: it was altered on disk or sealed with another key",
    );
  }
}
