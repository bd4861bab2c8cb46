import type { Authenticator } from "../../auth/authenticator.ts";
import type { Principal } from "../../auth/grants.ts";
import type { Sql } from "../../connectors/postgres/connect.ts";
import { CatbusError, ErrorCode, isCatbusError } from "../../../client/shared/errors.ts";
import { randomId } from "../../core/ids.ts";
import { PG_NAMESPACE } from "./channels.ts";

/** How the Alle door knows its clients. */
export type AlleAuth =
  /** Alle's default: nobody is asked for anything; every channel is open. */
  | { mode: "open" }
  /** Catbus tokens (sub-, role-, the admin key); grants on `pg.<channel>` apply. */
  | { mode: "token"; authenticator: Authenticator }
  /** Alle's AUTH_FUNCTION: `SELECT * FROM fn($1)` says who the token is, or just yes or no. */
  | { mode: "function"; name: string; sql: Sql };

/** Alle's own messages for these cases, kept so its clients can match them. */
export const AUTH_REQUIRED = "Authentication required";
export const AUTH_FAILED = "Authentication failed";
export const AUTH_NOT_CONFIGURED = "Authentication not configured";

const OPEN: Principal = { clientId: "alle", kind: "open", grants: [] };

/** `schema.name` or `name`: used in the statement as written, so it must be a plain identifier. */
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;

export function checkAuthFunctionName(name: string, origin: string): string {
  if (!FUNCTION_NAME.test(name)) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `${origin}: "${name}" is not a function name; give schema.function or function`,
    );
  }
  return name;
}

export const authRequired = (auth: AlleAuth): boolean => auth.mode !== "open";

/** The principal of a client that presents no credential (auth open only). */
export const openPrincipal = (): Principal => ({ ...OPEN, clientId: `alle-${randomId(6)}` });

/**
 * The principal a token stands for, or `unauthorized` with Alle's "Authentication failed"
 * (the reason, when Catbus knows one, follows it).
 */
export async function authenticate(auth: AlleAuth, token: unknown): Promise<Principal> {
  if (auth.mode === "open") throw new CatbusError(ErrorCode.BadRequest, AUTH_NOT_CONFIGURED);
  if (typeof token !== "string" || token === "") {
    throw new CatbusError(ErrorCode.Unauthorized, AUTH_REQUIRED);
  }
  if (auth.mode === "token") {
    try {
      return await auth.authenticator.authenticate(token);
    } catch (e) {
      if (isCatbusError(e) && e.code === ErrorCode.Unavailable) throw e;
      throw new CatbusError(
        ErrorCode.Unauthorized,
        `${AUTH_FAILED}: ${isCatbusError(e) ? e.clientMessage : "invalid token"}`,
      );
    }
  }
  let rows;
  try {
    rows = await auth.sql.unsafe(`select * from ${auth.name}($1)`, [token]);
  } catch (e) {
    throw new CatbusError(
      ErrorCode.Unavailable,
      `the auth function ${auth.name} failed: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const row = rows[0] as Record<string, unknown> | undefined;
  const values = row ? Object.values(row) : [];
  const ok = row && "authenticated" in row ? row.authenticated === true : values[0] === true;
  if (!ok) throw new CatbusError(ErrorCode.Unauthorized, AUTH_FAILED);
  const userId = row && "user_id" in row && row.user_id != null ? String(row.user_id) : undefined;
  return {
    clientId: userId ?? `alle-${randomId(6)}`,
    kind: "pg-function",
    grants: [
      { permission: "read", pattern: `${PG_NAMESPACE}.>` },
      { permission: "write", pattern: `${PG_NAMESPACE}.>` },
    ],
  };
}
