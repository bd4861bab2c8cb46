import { jwtVerify, SignJWT } from "jose";
import type { PulsarPermission, UserRecord } from "./store.ts";

/** The original's claims: `sub` is the user id. */
export interface AccessClaims {
  sub: string;
  username: string;
  permissions: PulsarPermission[];
  exp: number;
  iat: number;
  jti: string;
}

/** The shortest HS256 key accepted: the original refuses a shorter PULSAR_JWT_SECRET_KEY too. */
export const MIN_SECRET_LENGTH = 32;

/** Verified tokens remembered at once (a client reuses its token for every request). */
const MAX_VERIFIED = 4096;

/**
 * Signs and verifies the door's HS256 access tokens. The key is imported once, and a verified
 * token's claims are remembered until it expires: a publish loop then pays no HMAC per request
 * (what is re-read per request — the user, the deny list — is read by the caller, not here).
 */
export class AccessTokens {
  readonly #key: Promise<CryptoKey>;
  readonly #verified = new Map<string, AccessClaims>();
  readonly lifetimeMs: number;

  constructor(secret: string, lifetimeMs: number) {
    this.#key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    this.lifetimeMs = lifetimeMs;
  }

  async sign(user: UserRecord): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({ username: user.username, permissions: user.permissions })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(user.user_id)
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.round(this.lifetimeMs / 1000))
      .setJti(crypto.randomUUID())
      .sign(await this.#key);
  }

  /** The claims of a valid, unexpired token; undefined for anything else. */
  async verify(token: string): Promise<AccessClaims | undefined> {
    const known = this.#verified.get(token);
    if (known) {
      if (known.exp * 1000 > Date.now()) return known;
      this.#verified.delete(token);
    }
    try {
      const { payload } = await jwtVerify(token, await this.#key, { algorithms: ["HS256"] });
      if (typeof payload.sub !== "string" || typeof payload.exp !== "number") return undefined;
      const claims = payload as unknown as AccessClaims;
      this.#verified.set(token, claims);
      if (this.#verified.size > MAX_VERIFIED) {
        this.#verified.delete(this.#verified.keys().next().value!);
      }
      return claims;
    } catch {
      return undefined;
    }
  }
}
