import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { randomId } from "../core/ids.ts";
import { constantTimeEqual } from "./crypto.ts";
import type { Principal } from "./grants.ts";
import { roleHash, type RoleStore } from "./role-store.ts";
import { SubTokenVerifier, type TokenVerifierOptions } from "./tokens.ts";
import { looksLikeJwt } from "../../client/shared/jwt.ts";

export interface AuthenticatorOptions {
  /** Full access when presented as the token. */
  adminKey?: string;
  /** Signing secrets for sub- tokens, the current one first. */
  secrets: string[];
  /** Public keys, JWKS, audience and issuer for sub- tokens (JWTs). */
  tokens?: Omit<TokenVerifierOptions, "secrets">;
  roles: RoleStore;
}

/** Maps any credential a client presents to a principal, or refuses with `unauthorized`. */
export class Authenticator {
  readonly #options: AuthenticatorOptions;
  readonly #subTokens: SubTokenVerifier;

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
    this.#subTokens = new SubTokenVerifier({ ...options.tokens, secrets: options.secrets });
  }

  /**
   * A new token for an open connection: it must be a `sub-` token for the same client id (the
   * connection's inbox, reply permits and consumers are its), and it replaces the grants and
   * expiry. Anything else is refused with `unauthorized`.
   */
  async refresh(current: Principal, token: unknown): Promise<Principal> {
    if (current.kind !== "sub") {
      throw new CatbusError(
        ErrorCode.BadRequest,
        `a ${current.kind} connection has no token to refresh; only sub- tokens expire`,
      );
    }
    const next = await this.authenticate(token);
    if (next.kind !== "sub" || next.clientId !== current.clientId) {
      throw new CatbusError(
        ErrorCode.Unauthorized,
        `refresh needs a sub- token for the same client id (${current.clientId})`,
      );
    }
    return next;
  }

  async authenticate(token: unknown): Promise<Principal> {
    if (typeof token !== "string" || token.length === 0) {
      throw new CatbusError(
        ErrorCode.Unauthorized,
        "a token is required; create one with `catbus grant -p all 'app.>'`",
      );
    }
    if (token.startsWith("sub-")) return await this.#subTokens.verify(token);
    if (token.startsWith("role-")) {
      const role = await this.#options.roles.find(token);
      if (!role) {
        throw new CatbusError(
          ErrorCode.Unauthorized,
          "unknown or deleted role token",
        );
      }
      return {
        clientId: `role-${role.id}-${randomId(6)}`,
        kind: "role",
        grants: role.grants,
        roleHash: await roleHash(token),
      };
    }
    const admin = this.#options.adminKey;
    if (admin && await constantTimeEqual(token, admin)) {
      return { clientId: `admin-${randomId(6)}`, kind: "admin", grants: [] };
    }
    // A JWT minted by an app backend's own library carries no prefix.
    if (looksLikeJwt(token)) return await this.#subTokens.verify(token);
    throw new CatbusError(
      ErrorCode.Unauthorized,
      "unrecognised token: expected a sub- token (a JWT), a role- token or the admin key",
    );
  }
}
