/**
 * `@catbus/client/tokens`: mints Catbus tokens in an app backend (Node, Deno, Bun, workers).
 * A token is a standard HS256 JWT signed with catbusd's signing secret, so a backend in another
 * language mints the same with its usual JWT library (see docs/tokens.md).
 *
 * @example
 * ```ts
 * import { mintToken } from "@catbus/client/tokens";
 *
 * const token = await mintToken({
 *   clientId: user.id,
 *   grants: [{ permission: "read", pattern: `user.${user.id}.>` }],
 *   expiresIn: 3600,
 * }, process.env.CATBUS_SECRET!);
 * ```
 *
 * @module
 */
import { type CatbusClaims, signHs256, TOKEN_PREFIX, type TokenGrant } from "./shared/jwt.ts";

export type { CatbusClaims, TokenGrant };

export interface MintOptions {
  /** The client id (JWT `sub`): 1 to 128 of `A-Z a-z 0-9 _ - : @`. */
  clientId: string;
  grants: TokenGrant[];
  /** Lifetime in seconds (JWT `exp`); without it the token never expires. */
  expiresIn?: number;
  /** Seconds from now before which the token is refused (JWT `nbf`). */
  notBefore?: number;
  /** JWT `aud` and `iss`, checked when the server is configured with them. */
  audience?: string;
  issuer?: string;
  /** Shown to other members in presence (e.g. `{ name: "Ada" }`). */
  info?: unknown;
  /** Now, in ms since epoch (default `Date.now()`). */
  now?: number;
}

const CLIENT_ID = /^[A-Za-z0-9_:@-]{1,128}$/;

/**
 * A `sub-` token: `"sub-"` + an HS256 JWT signed with `secret` (catbusd's `--secret`, or the
 * DATA/secret file it created).
 */
export async function mintToken(
  options: MintOptions,
  secret: string,
): Promise<string> {
  if (!CLIENT_ID.test(options.clientId)) {
    throw new TypeError(
      `client id "${options.clientId}" must be 1 to 128 of A-Z a-z 0-9 _ - : @`,
    );
  }
  if (!secret) {
    throw new TypeError("mintToken needs the server's signing secret");
  }
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const claims: CatbusClaims = {
    sub: options.clientId,
    grants: options.grants,
    iat,
  };
  if (options.expiresIn !== undefined) claims.exp = iat + options.expiresIn;
  if (options.notBefore !== undefined) claims.nbf = iat + options.notBefore;
  if (options.audience !== undefined) claims.aud = options.audience;
  if (options.issuer !== undefined) claims.iss = options.issuer;
  if (options.info !== undefined) claims.info = options.info;
  return TOKEN_PREFIX + await signHs256(claims, secret);
}
