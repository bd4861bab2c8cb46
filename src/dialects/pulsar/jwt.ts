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

/** Signs and verifies the door's HS256 access tokens. */
export class AccessTokens {
  readonly #key: Uint8Array;
  readonly lifetimeMs: number;

  constructor(secret: string, lifetimeMs: number) {
    this.#key = new TextEncoder().encode(secret);
    this.lifetimeMs = lifetimeMs;
  }

  sign(user: UserRecord): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({ username: user.username, permissions: user.permissions })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(user.user_id)
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.round(this.lifetimeMs / 1000))
      .setJti(crypto.randomUUID())
      .sign(this.#key);
  }

  /** The claims of a valid, unexpired token; undefined for anything else. */
  async verify(token: string): Promise<AccessClaims | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.#key, { algorithms: ["HS256"] });
      if (typeof payload.sub !== "string" || typeof payload.exp !== "number") return undefined;
      return payload as unknown as AccessClaims;
    } catch {
      return undefined;
    }
  }
}
