import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { base64url, hex, randomBytes, sha256 } from "./crypto.ts";
import type { Grant } from "./grants.ts";

/**
 * Stateful `role-` tokens: the token is a random bearer secret; its grants live in a store and
 * can change or vanish while connections that used it are open. Stores keep only the SHA-256 of
 * each token, so a leaked store file does not leak credentials.
 */
export interface Role {
  /** Short public handle (first 12 hex chars of the token hash), shown by `role list`. */
  id: string;
  /** Full SHA-256 hex of the token. */
  hash: string;
  name: string;
  grants: Grant[];
  createdAt: string;
  updatedAt: string;
}

export interface RoleStore {
  /** Creates a role and returns its token; the token is not recoverable later. */
  create(name: string): Promise<{ token: string; role: Role }>;
  /** Looks a role up by token, or by its public id (for admin commands). */
  find(tokenOrId: string): Promise<Role | undefined>;
  list(): Promise<Role[]>;
  addGrants(tokenOrId: string, grants: Grant[]): Promise<Role>;
  removeGrants(tokenOrId: string, grants: Grant[]): Promise<Role>;
  delete(tokenOrId: string): Promise<Role>;
  /**
   * Calls `onChange` within about a second after anyone (another process included) changed the
   * store: with the role's public id when the store knows which role changed, without one when
   * any role may have. Returns a function that stops watching.
   */
  watch(onChange: (roleId?: string) => void): () => void;
  /** Connects a store on a server; resolves at once and keeps trying while it is away. */
  start?(): Promise<void>;
  /** False while a store on a server cannot be reached (its last known roles stay in force). */
  readonly healthy?: boolean;
  /** Lets go of what the store holds open (database or Valkey connections). */
  close(): void | Promise<void>;
}

export const newRoleToken = (): string => "role-" + base64url(randomBytes(16));

/** A new role named `name` (no grants yet) and its token; a blank name is bad_request. */
export async function newRole(name: string): Promise<{ token: string; role: Role }> {
  if (typeof name !== "string" || !name.trim()) {
    throw new CatbusError(ErrorCode.BadRequest, "a role needs a name: --name NAME");
  }
  const token = newRoleToken();
  const hash = await roleHash(token);
  const now = new Date().toISOString();
  const role = { id: hash.slice(0, 12), hash, name, grants: [], createdAt: now, updatedAt: now };
  return { token, role };
}

export const roleHash = async (token: string): Promise<string> => hex(await sha256(token));

export const notFound = (what: string) =>
  new CatbusError(
    ErrorCode.NotFound,
    `role ${what} not found; \`catbus role list\` shows the roles`,
  );

/** Resolves a token (role-…) or a public id to the stored hash key. */
export async function resolveRoleKey(
  tokenOrId: string,
  byHash: (hash: string) => boolean,
  all: () => Iterable<string>,
): Promise<string | undefined> {
  if (tokenOrId.startsWith("role-")) {
    const h = await roleHash(tokenOrId);
    return byHash(h) ? h : undefined;
  }
  if (/^[0-9a-f]{12}$/.test(tokenOrId)) {
    for (const h of all()) if (h.startsWith(tokenOrId)) return h;
  }
  return undefined;
}

export const sameGrant = (a: Grant, b: Grant) =>
  a.permission === b.permission && a.pattern === b.pattern;
