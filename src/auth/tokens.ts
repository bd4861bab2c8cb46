import * as jose from "jose";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import {
  type CatbusClaims,
  jwtOf,
  looksLikeJwt,
  secretKeyId,
  signHs256,
  TOKEN_PREFIX,
} from "../../client/shared/jwt.ts";
import { type Grant, parseGrants, PERMISSIONS, type Principal } from "./grants.ts";

/**
 * `sub-` tokens are standard JSON Web Tokens (RFC 7519), optionally prefixed with `sub-`:
 *
 *   header  {"alg": "HS256" | "RS256" | "ES256" | "EdDSA", "kid"?: …}
 *   claims  {"sub": CLIENT_ID, "grants": [{"permission", "pattern"}…], "exp"?, "nbf"?, "iat"?,
 *            "aud"?, "iss"?, "info"?}
 *
 * HS256 tokens are signed with the server's signing secret (the `kid`, when present, names which
 * secret during rotation); RS256/ES256/EdDSA tokens with a private key whose public half the
 * server holds (`--jwt-public-key`) or fetches (`--jwks-url`). Verification is jose's.
 */

/** The public id of a secret: the `kid` of the HS256 tokens it signs. */
export const keyId = secretKeyId;

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

/** A `sub-` token: `sub-` + an HS256 JWT signed with `secret` (what `catbus grant` prints). */
export async function signSubToken(secret: string, options: SignOptions): Promise<string> {
  checkClientId(options.clientId);
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const claims: CatbusClaims = { sub: options.clientId, grants: options.grants, iat };
  if (options.expiresIn !== undefined) claims.exp = iat + options.expiresIn;
  return TOKEN_PREFIX + await signHs256(claims, secret);
}

const refuse = (why: string) =>
  new CatbusError(
    ErrorCode.Unauthorized,
    `invalid token: ${why}; create a new one with \`catbus grant\` or your backend's mintToken`,
  );

export interface TokenVerifierOptions {
  /** HS256 signing secrets, the current one first. */
  secrets: string[];
  /** A PEM public key (SPKI) for RS256, ES256 or EdDSA tokens. */
  publicKey?: string;
  /** A JWKS URL for RS256, ES256 or EdDSA tokens (keys picked by `kid`, cached, refetched). */
  jwksUrl?: string;
  /** Required `aud` and `iss`, when set. */
  audience?: string;
  issuer?: string;
}

const ASYMMETRIC = ["RS256", "ES256", "EdDSA", "Ed25519"];

type KeyLookup = (header: jose.JWTHeaderParameters) => Promise<jose.CryptoKey | Uint8Array>;

/** Verifies `sub-` tokens (JWTs) against the configured secrets and public keys. */
export class SubTokenVerifier {
  readonly #options: TokenVerifierOptions;
  readonly #secrets: Promise<Map<string, Uint8Array>>;
  readonly #publicKeys = new Map<string, Promise<jose.CryptoKey>>();
  readonly #jwks?: ReturnType<typeof jose.createRemoteJWKSet>;

  constructor(options: TokenVerifierOptions | string[]) {
    this.#options = Array.isArray(options) ? { secrets: options } : options;
    const encoder = new TextEncoder();
    this.#secrets = Promise.all(
      this.#options.secrets.map(async (s) => [await keyId(s), encoder.encode(s)] as const),
    ).then((pairs) => new Map(pairs));
    if (this.#options.jwksUrl) this.#jwks = jose.createRemoteJWKSet(new URL(this.#options.jwksUrl));
  }

  /** Returns the principal, or throws `unauthorized` saying why (never which byte was wrong). */
  async verify(token: string, now = Date.now()): Promise<Principal> {
    if (!looksLikeJwt(token)) {
      throw refuse(
        token.startsWith(TOKEN_PREFIX)
          ? "not a JWT (tokens of the earlier sub- format are no longer accepted)"
          : "malformed",
      );
    }
    const jwt = jwtOf(token);
    let header: jose.ProtectedHeaderParameters;
    try {
      header = jose.decodeProtectedHeader(jwt);
    } catch {
      throw refuse("malformed");
    }
    const alg = header.alg;
    let claims: jose.JWTPayload;
    try {
      const verifyOptions: jose.JWTVerifyOptions = {
        currentDate: new Date(now),
        audience: this.#options.audience,
        issuer: this.#options.issuer,
      };
      if (alg === "HS256") {
        claims = await this.#verifyHs256(jwt, header, verifyOptions);
      } else if (alg !== undefined && ASYMMETRIC.includes(alg)) {
        const lookup = this.#asymmetricKey(alg);
        verifyOptions.algorithms = ASYMMETRIC;
        ({ payload: claims } = await jose.jwtVerify(jwt, lookup, verifyOptions));
      } else {
        throw refuse(
          `algorithm ${JSON.stringify(alg)} is not accepted (HS256, RS256, ES256, EdDSA)`,
        );
      }
    } catch (e) {
      throw e instanceof CatbusError ? e : refusal(e);
    }
    return principalOf(claims);
  }

  /** With a `kid`, the secret it names; without, each secret in turn (current first). */
  async #verifyHs256(
    jwt: string,
    header: jose.ProtectedHeaderParameters,
    options: jose.JWTVerifyOptions,
  ): Promise<jose.JWTPayload> {
    const secrets = await this.#secrets;
    options.algorithms = ["HS256"];
    if (header.kid !== undefined) {
      const secret = secrets.get(header.kid);
      if (!secret) throw refuse("signed with a key this server does not hold");
      return (await jose.jwtVerify(jwt, secret, options)).payload;
    }
    let last: unknown = refuse("this server has no signing secret");
    for (const secret of secrets.values()) {
      try {
        return (await jose.jwtVerify(jwt, secret, options)).payload;
      } catch (e) {
        last = e;
        if (!(e instanceof jose.errors.JWSSignatureVerificationFailed)) break;
      }
    }
    throw last;
  }

  #asymmetricKey(alg: string): KeyLookup | jose.CryptoKey {
    if (this.#jwks) return this.#jwks as KeyLookup;
    const pem = this.#options.publicKey;
    if (!pem) {
      throw refuse(`${alg} tokens need --jwt-public-key or --jwks-url on the server`);
    }
    let key = this.#publicKeys.get(alg);
    if (!key) {
      key = jose.importSPKI(pem, alg);
      key.catch(() => this.#publicKeys.delete(alg));
      this.#publicKeys.set(alg, key);
    }
    return () => key;
  }
}

/** jose's error, as a refusal that says what to do and no more. */
function refusal(e: unknown): CatbusError {
  if (e instanceof jose.errors.JWTExpired) {
    return new CatbusError(
      ErrorCode.Unauthorized,
      "token expired; create a new one with `catbus grant` or your backend's mintToken",
    );
  }
  if (e instanceof jose.errors.JWTClaimValidationFailed) {
    return refuse(CLAIM_REFUSALS[e.claim] ?? `claim ${e.claim}: ${e.reason}`);
  }
  if (e instanceof jose.errors.JWSSignatureVerificationFailed) return refuse("bad signature");
  if (e instanceof jose.errors.JWKSNoMatchingKey) {
    return refuse("signed with a key this server does not hold");
  }
  if (e instanceof jose.errors.JOSEAlgNotAllowed) return refuse("algorithm not accepted");
  if (e instanceof jose.errors.JWKSTimeout || e instanceof jose.errors.JWKSInvalid) {
    return new CatbusError(
      ErrorCode.Unavailable,
      "the token's key set (--jwks-url) cannot be fetched now; retry shortly",
    );
  }
  if (e instanceof jose.errors.JOSEError) return refuse("malformed");
  // Not jose's: the key set's fetch failed.
  return new CatbusError(
    ErrorCode.Unavailable,
    `cannot verify the token now (${e instanceof Error ? e.message : String(e)}); retry shortly`,
  );
}

const CLAIM_REFUSALS: Record<string, string> = {
  nbf: "not valid yet (nbf is in the future)",
  aud: "its audience (aud) is not this server's --jwt-audience",
  iss: "its issuer (iss) is not this server's --jwt-issuer",
};

/** `all` stands for read, write and create, as on the command line. */
function expandAll(grants: unknown): unknown {
  if (!Array.isArray(grants)) return grants;
  return grants.flatMap((g) =>
    g && typeof g === "object" && g.permission === "all"
      ? PERMISSIONS.map((permission) => ({ permission, pattern: g.pattern }))
      : [g]
  );
}

function principalOf(claims: jose.JWTPayload): Principal {
  let grants: Grant[];
  try {
    grants = parseGrants(expandAll(claims.grants));
  } catch {
    throw refuse("malformed grants claim");
  }
  if (typeof claims.sub !== "string" || !CLIENT_ID.test(claims.sub)) {
    throw refuse("missing or malformed sub (the client id: 1 to 128 of A-Z a-z 0-9 _ - : @)");
  }
  return {
    clientId: claims.sub,
    kind: "sub",
    grants,
    expiresAt: claims.exp,
    issuedAt: claims.iat,
    ...(claims.info === undefined ? {} : { info: claims.info }),
  };
}
