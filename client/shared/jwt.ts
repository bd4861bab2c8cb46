/**
 * The `sub-` token format: a standard JSON Web Token (RFC 7519), optionally prefixed with
 * `sub-`. Shared by the server's verifier and the client package's `mintToken`, so both agree
 * on the claims without the client importing the server.
 */
import { base64 } from "./bytes.ts";

/** What a token may do: one permission on one channel pattern. */
export interface TokenGrant {
  /** "read", "write", "create", "admin" or "all" (see `catbus grant --help`). */
  permission: string;
  pattern: string;
}

/** The claims Catbus reads. `sub` is the client id; `grants` is Catbus's own claim. */
export interface CatbusClaims {
  sub: string;
  grants: TokenGrant[];
  iat?: number;
  exp?: number;
  nbf?: number;
  aud?: string | string[];
  iss?: string;
  /** Shown to others in presence (e.g. a display name). */
  info?: unknown;
}

export const TOKEN_PREFIX = "sub-";

/** The compact JWT inside a token, with the optional `sub-` prefix removed. */
export const jwtOf = (token: string): string =>
  token.startsWith(TOKEN_PREFIX) ? token.slice(TOKEN_PREFIX.length) : token;

/** Whether a token has the shape of a compact JWS: three base64url parts. */
export const looksLikeJwt = (token: string): boolean =>
  /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(jwtOf(token));

export function base64url(bytes: Uint8Array): string {
  return base64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

const encoder = new TextEncoder();

/**
 * The public id of an HS256 secret (the JWT `kid`): lets a server holding several secrets
 * (rotation) pick the right one without revealing any.
 */
export async function secretKeyId(secret: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    encoder.encode("catbus-key-id:" + secret),
  );
  return base64url(new Uint8Array(digest)).slice(0, 8);
}

/** Signs claims as an HS256 JWT with `kid` = `secretKeyId(secret)`. */
export async function signHs256(
  claims: CatbusClaims,
  secret: string,
): Promise<string> {
  const header = { alg: "HS256", typ: "JWT", kid: await secretKeyId(secret) };
  const part = (value: unknown) => base64url(encoder.encode(JSON.stringify(value)));
  const body = `${part(header)}.${part(claims)}`;
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(body));
  return `${body}.${base64url(new Uint8Array(mac))}`;
}
