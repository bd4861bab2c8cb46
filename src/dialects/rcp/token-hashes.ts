import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
import { SmError, SmErrorCode } from "../../sm/errors.ts";

/** SHA-256 (hex) of a bearer token: what configs store (`catbus sm hash-token`). */
export const hashToken = (token: string): string =>
  createHash("sha256").update(token).digest("hex");

const HEX64 = /^[0-9a-f]{64}$/;

/** Parses hashes (from config, env, or a secrets file: one per line, `#` comments). */
export function parseTokenHashes(lines: string[], source: string): string[] {
  const hashes: string[] = [];
  for (const raw of lines) {
    const line = raw.trim().toLowerCase();
    if (!line || line.startsWith("#")) continue;
    if (!HEX64.test(line)) {
      throw new SmError(
        SmErrorCode.BadRequest,
        `${source}: "${
          raw.trim().slice(0, 20)
        }…" is not a SHA-256 hex hash; make one with \`catbus sm hash-token TOKEN\``,
      );
    }
    hashes.push(line);
  }
  return hashes;
}

/** Checks bearer tokens against the configured hashes in constant time. */
export class TokenVerifier {
  readonly required: boolean;
  readonly #hashes: Buffer[];

  constructor(required: boolean, hashes: string[]) {
    this.required = required;
    this.#hashes = hashes.map((h) => Buffer.from(h, "hex"));
  }

  /** The configured hash the token matches, or undefined. Every hash is compared. */
  match(token: string): string | undefined {
    const digest = createHash("sha256").update(token).digest();
    let found: Buffer | undefined;
    for (const h of this.#hashes) if (timingSafeEqual(h, digest)) found = h;
    return found?.toString("hex");
  }
}
