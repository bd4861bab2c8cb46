import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { randomId } from "../core/ids.ts";
import { constantTimeEqual } from "./crypto.ts";
import type { Principal } from "./grants.ts";
import { roleHash, type RoleStore } from "./role-store.ts";
import { SubTokenVerifier } from "./tokens.ts";

export interface AuthenticatorOptions {
  /** Full access when presented as the token. */
  adminKey?: string;
  /** Signing secrets for sub- tokens, the current one first. */
  secrets: string[];
  roles: RoleStore;
}

/** Maps any credential a client presents to a principal, or refuses with `unauthorized`. */
export class Authenticator {
  readonly #options: AuthenticatorOptions;
  readonly #subTokens: SubTokenVerifier;

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
    this.#subTokens = new SubTokenVerifier(options.secrets);
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
    throw new CatbusError(
      ErrorCode.Unauthorized,
      "unrecognised token: expected a sub- or role- token or the admin key",
    );
  }
}
