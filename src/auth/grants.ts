import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import {
  covers,
  literalNamespaceOf,
  parsePattern,
  SM_NAMESPACE,
} from "../../client/shared/subject.ts";

/**
 * What a grant allows on the channels its pattern covers:
 * - `read`: subscribe;
 * - `write`: publish;
 * - `create`: bring into existence what does not exist yet (a namespace, later a durable consumer).
 * `all` on the command line expands to the three.
 */
export const PERMISSIONS = ["read", "write", "create"] as const;
export type Permission = typeof PERMISSIONS[number];

export interface Grant {
  permission: Permission;
  pattern: string;
}

/**
 * Who is on the other end of a connection and what it may do. `open` is the Bus door without
 * auth: no credential, full access except reading `sm` (state-machine contexts stay behind a
 * credential). `rcp-token` and `rcp-cert` are RCP connections identified by a configured bearer
 * token or a verified client certificate. `pg-function` is an Alle client that a SQL function (Alle's
 * AUTH_FUNCTION) authenticated.
 */
export interface Principal {
  clientId: string;
  kind: "admin" | "sub" | "role" | "open" | "rcp-token" | "rcp-cert" | "pg-function";
  /** Live for role principals: replaced in place when the role changes. */
  grants: Grant[];
  /** SHA-256 (hex) of the role token, for role principals. */
  roleHash?: string;
  /** Seconds since epoch after which the credential is no longer valid. */
  expiresAt?: number;
  /** Seconds since epoch when the credential was issued, when it says. */
  issuedAt?: number;
  /** What others see of this client in presence (a token's `info` claim). */
  info?: unknown;
}

/** Expands `all` and validates: `-p read -p all` → read, write, create. */
export function parsePermissions(names: string[]): Permission[] {
  const out = new Set<Permission>();
  for (const name of names) {
    if (name === "all") PERMISSIONS.forEach((p) => out.add(p));
    else if ((PERMISSIONS as readonly string[]).includes(name)) {
      out.add(name as Permission);
    } else {
      throw new CatbusError(
        ErrorCode.BadRequest,
        `unknown permission "${name}"; use read, write, create or all`,
      );
    }
  }
  return [...out];
}

/** Every (permission × pattern) pair, validated. */
export function makeGrants(permissions: string[], patterns: string[]): Grant[] {
  const perms = parsePermissions(permissions);
  for (const p of patterns) parsePattern(p);
  return perms.flatMap((permission) => patterns.map((pattern) => ({ permission, pattern })));
}

/** Validates untrusted grant data (from a token or a store). */
export function parseGrants(value: unknown): Grant[] {
  if (!Array.isArray(value)) throw new TypeError("grants must be an array");
  return value.map((g) => {
    if (!g || typeof g !== "object") {
      throw new TypeError("grant must be an object");
    }
    const { permission, pattern } = g as Record<string, unknown>;
    if (!(PERMISSIONS as readonly unknown[]).includes(permission)) {
      throw new TypeError(`bad permission ${String(permission)}`);
    }
    parsePattern(pattern);
    return { permission: permission as Permission, pattern: pattern as string };
  });
}

/**
 * Each principal may read its own `_inbox.<clientId>.…` without a grant (request/reply works
 * with any token). Publishing a reply takes a permit instead (access/publish.ts).
 */
function inboxAllows(principal: Principal, permission: Permission, pattern: string): boolean {
  return permission === "read" && pattern.startsWith("_inbox.") &&
    covers(`_inbox.${principal.clientId}.>`, pattern);
}

/** Does the principal hold `permission` over every channel `pattern` can name? */
export function allows(principal: Principal, permission: Permission, pattern: string): boolean {
  if (principal.kind === "open") {
    if (permission !== "read") return true;
    const ns = literalNamespaceOf(pattern);
    return ns !== undefined && ns !== SM_NAMESPACE;
  }
  if (principal.kind === "admin" || inboxAllows(principal, permission, pattern)) return true;
  for (const g of principal.grants) {
    if (g.permission === permission && covers(g.pattern, pattern)) return true;
  }
  return false;
}

/** Throws `forbidden` with a message naming the missing grant. */
export function requireGrant(
  principal: Principal,
  permission: Permission,
  pattern: string,
): void {
  if (!allows(principal, permission, pattern)) {
    throw new CatbusError(
      ErrorCode.Forbidden,
      `no ${permission} grant covers "${pattern}"; ask for a token with ` +
        `\`catbus grant -p ${permission} '${pattern}'\``,
    );
  }
}

export const formatGrant = (g: Grant): string => `${g.permission}:${g.pattern}`;
