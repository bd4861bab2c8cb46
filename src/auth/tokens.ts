import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { base64url, fromBase64url, sha256 } from "./crypto.ts";
import { type Grant, parseGrants, type Principal } from "./grants.ts";

/**
 * Stateless `sub-` tokens:
 *
 *   "sub-" + base64url(JSON claims) + "." + base64url(HMAC-SHA256(secret, "sub-" + claims))
 *
 * The MAC is the full 32 bytes and is checked with `crypto.subtle.verify` (constant time).
 * Claims carry the key id, so a server holding several secrets (rotation) picks the right one
 * without trying each, and an expiry the server enforces on connect and on live connections.
 */
export interface SubTokenClaims {
  /** Claims format version. */
  v: 1;
  cid: string;
  grants: Grant[];
  /** Issued at, seconds since epoch. */
  iat: number;
  /** Expires at, seconds since epoch. */
  exp?: number;
  /** Key id: which secret signed it. */
  kid: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The public id of a secret: lets a verifier find the key without revealing it. */
export async function keyId(secret: string): Promise<string> {
  return base64url(await sha256("catbus-key-id:" + secret)).slice(0, 8);
}

async function hmacKey(secret: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/**
 * A client id is one channel token of its reply inbox `_inbox.<clientId>.…`: a dot or a
 * wildcard (`*`, `>`) would let its own-inbox read cover other clients' inboxes.
 */
const CLIENT_ID = /^[A-Za-z0-9_:@-]{1,128}$/;

/** Throws `bad_request` unless `id` is 1 to 128 of `A-Z a-z 0-9 _ - : @`. */
export function checkClientId(id: string): void {
  if (!CLIENT_ID.test(id)) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `client id "${id}" must be 1 to 128 of A-Z a-z 0-9 _ - : @ (no dots or wildcards: it ` +
        "names the client's reply inbox)",
    );
  }
}

export interface SignOptions {
  clientId: string;
  grants: Grant[];
  /** Lifetime in seconds. */
  expiresIn?: number;
  now?: number;
}

export async function signSubToken(
  secret: string,
  options: SignOptions,
): Promise<string> {
  checkClientId(options.clientId);
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const claims: SubTokenClaims = {
    v: 1,
    cid: options.clientId,
    grants: options.grants,
    iat,
    kid: await keyId(secret),
  };
  if (options.expiresIn !== undefined) claims.exp = iat + options.expiresIn;
  const body = "sub-" + base64url(encoder.encode(JSON.stringify(claims)));
  const mac = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(secret),
    encoder.encode(body),
  );
  return body + "." + base64url(new Uint8Array(mac));
}

const refuse = (why: string) =>
  new CatbusError(
    ErrorCode.Unauthorized,
    `invalid token: ${why}; create a new one with \`catbus grant\``,
  );

/** A verifier over the configured secrets: the current one first, then older ones. */
export class SubTokenVerifier {
  readonly #keys: Promise<Map<string, CryptoKey>>;

  constructor(secrets: string[]) {
    this.#keys = Promise.all(
      secrets.map(async (s) => [await keyId(s), await hmacKey(s)] as const),
    ).then((pairs) => new Map(pairs));
  }

  /** Returns the principal, or throws `unauthorized` saying why (never which byte was wrong). */
  async verify(token: string, now = Date.now()): Promise<Principal> {
    const dot = token.lastIndexOf(".");
    if (!token.startsWith("sub-") || dot < 0) throw refuse("not a sub- token");
    const body = token.slice(0, dot);
    let mac: Uint8Array, claims: SubTokenClaims;
    try {
      mac = fromBase64url(token.slice(dot + 1));
      claims = JSON.parse(decoder.decode(fromBase64url(body.slice(4))));
    } catch {
      throw refuse("malformed");
    }
    // Claims are read before the MAC is checked (the key id picks the key): anything but the
    // expected shape is refused here, before a crafted value reaches string conversions.
    if (!claims || typeof claims !== "object" || typeof claims.kid !== "string") {
      throw refuse("malformed");
    }
    const key = (await this.#keys).get(claims.kid);
    if (!key) throw refuse("signed with a key this server does not hold");
    const ok = mac.length === 32 &&
      await crypto.subtle.verify(
        "HMAC",
        key,
        mac as BufferSource,
        encoder.encode(body),
      );
    if (!ok) throw refuse("bad signature");
    let grants: Grant[];
    try {
      grants = parseGrants(claims.grants);
    } catch {
      throw refuse("malformed grants");
    }
    if (typeof claims.cid !== "string" || !CLIENT_ID.test(claims.cid)) {
      throw refuse("missing or malformed client id");
    }
    if (
      claims.exp !== undefined &&
      (typeof claims.exp !== "number" || claims.exp * 1000 <= now)
    ) {
      throw new CatbusError(
        ErrorCode.Unauthorized,
        "token expired; create a new one with `catbus grant`",
      );
    }
    return { clientId: claims.cid, kind: "sub", grants, expiresAt: claims.exp };
  }
}
