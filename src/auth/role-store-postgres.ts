import { CatbusError, ErrorCode, isCatbusError } from "../../client/shared/errors.ts";
import {
  backoffMs,
  isConnectionError,
  openPool,
  redactUrl,
  type Sql,
  type TransactionSql as Tx,
} from "../connectors/postgres/connect.ts";
import { PgListener } from "../connectors/postgres/listener.ts";
import type { Logger } from "../core/logger.ts";
import type { Grant, Permission } from "./grants.ts";
import { newRoleToken, notFound, type Role, roleHash, type RoleStore } from "./role-store.ts";
import { checkSchema, ROLES_CHANNEL } from "./role-schema-postgres.ts";

interface RoleRow {
  hash: string;
  id: string;
  name: string;
  created_at: Date;
  updated_at: Date;
  grants: { permission: Permission; pattern: string }[];
}

const ROLE_SELECT = `
  select r.hash, r.id, r.name, r.created_at, r.updated_at,
    coalesce((select json_agg(json_build_object('permission', g.permission, 'pattern', g.pattern)
                order by g.added)
              from catbus_role_grants g where g.role_hash = r.hash), '[]') as grants
  from catbus_roles r`;

const toRole = (r: RoleRow): Role => ({
  id: r.id,
  hash: r.hash,
  name: r.name,
  grants: r.grants,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

export interface PostgresRoleStoreOptions {
  /** How often a server compares the change counter (the safety net behind the doorbell). */
  pollMs?: number;
  /** Shown in `pg_stat_activity.application_name`. */
  applicationName?: string;
  log?: Logger;
}

/**
 * Roles, their grants and token hashes (never tokens) in PostgreSQL, shared by every catbusd
 * and `catbus` CLI on the database. Each change runs in one transaction that bumps a change
 * counter and rings a doorbell (`NOTIFY catbus_roles, '<role id>'`, sent at commit). A server
 * watching the store reacts to three signals, so a change lands within about a second whatever
 * happens to its connections: the doorbell (immediately), a full reload after every reconnect of
 * its LISTEN connection (notifications are lost while it was away), and a poll of the counter.
 */
export class PostgresRoleStore implements RoleStore {
  readonly #url: string;
  readonly #sql: Sql;
  readonly #options: PostgresRoleStoreOptions;
  readonly #watchers = new Set<(roleId?: string) => void>();
  #listener?: PgListener;
  #pollTimer?: ReturnType<typeof setInterval>;
  #version?: bigint;
  /** The last statement on the pool succeeded. */
  #reachable = false;
  /** What `healthy` was when last reported, so each change is logged once. */
  #reported = false;
  #closed = false;

  constructor(url: string, options: PostgresRoleStoreOptions = {}) {
    this.#url = url;
    this.#options = options;
    this.#sql = openPool(url, options.applicationName ?? "catbus");
  }

  /** Reachable, schema as expected, doorbell listened to: role changes are being applied. */
  get healthy(): boolean {
    return this.#reachable && this.#listener?.connected === true;
  }

  /** Logs a change of `healthy` (from the poll or the LISTEN connection). */
  #reportHealth(error?: unknown) {
    const healthy = this.healthy;
    if (healthy === this.#reported) return;
    this.#reported = healthy;
    if (healthy) this.#options.log?.("info", "role database reachable again");
    else {
      this.#options.log?.("warn", "role database unreachable; grants stay as they are", {
        ...(error ? { error: (error as Error).message } : {}),
      });
    }
  }

  /**
   * For a server: checks the schema and starts listening to the doorbell. The first attempt's
   * failure is thrown when it is the schema (a server must not run on a schema it does not
   * know); when PostgreSQL is unreachable, it logs and retries with back-off in the background
   * (`healthy` stays false meanwhile) and resolves at once.
   */
  async start(): Promise<void> {
    const log = this.#options.log ?? (() => {});
    try {
      await this.#connect();
      return;
    } catch (e) {
      if (!isConnectionError(e)) throw e;
      log("warn", "the role database is unreachable; retrying", this.#failure(e));
    }
    (async () => {
      for (let attempt = 1; !this.#closed; attempt++) {
        await new Promise((r) => setTimeout(r, backoffMs(attempt)));
        if (this.#closed) return;
        try {
          await this.#connect();
          log("info", "role database connected", { url: redactUrl(this.#url) });
          this.#notify(undefined);
          return;
        } catch (e) {
          log(attempt % 10 === 1 ? "warn" : "debug", "role database still unreachable", {
            ...this.#failure(e),
            attempt,
          });
        }
      }
    })();
  }

  async #connect() {
    await checkSchema(this.#sql);
    const listener = this.#listener ?? new PgListener(
      this.#url,
      `${this.#options.applicationName ?? "catbus"} roles-listen`,
      {
        onNotification: (_channel, roleId) => this.#notify(roleId || undefined),
        onLost: (e) => {
          this.#options.log?.("warn", "role doorbell connection lost; reconnecting");
          this.#reportHealth(e);
        },
        onReconnect: () => {
          this.#options.log?.("info", "role doorbell reconnected; reloading roles");
          this.#reportHealth();
          this.#notify(undefined);
        },
      },
    );
    this.#listener = listener;
    await listener.start();
    await listener.listen(ROLES_CHANNEL);
    this.#version = await this.#changeVersion();
    this.#reachable = true;
    this.#reported = true;
    this.#options.log?.("info", "roles in PostgreSQL", { url: redactUrl(this.#url) });
  }

  #failure(e: unknown) {
    return { url: redactUrl(this.#url), error: (e as Error).message };
  }

  async create(name: string): Promise<{ token: string; role: Role }> {
    if (typeof name !== "string" || !name.trim()) {
      throw new CatbusError(ErrorCode.BadRequest, "a role needs a name: --name NAME");
    }
    const token = newRoleToken();
    const hash = await roleHash(token);
    await this.#write(async (tx) => {
      await tx`insert into catbus_roles (hash, id, name) values (${hash}, ${
        hash.slice(0, 12)
      }, ${name})`;
      return hash;
    });
    return { token, role: await this.#reread(hash) };
  }

  async find(tokenOrId: string): Promise<Role | undefined> {
    const where = await this.#where(tokenOrId);
    if (!where) return undefined;
    const rows = await this.#run(() =>
      this.#sql.unsafe<RoleRow[]>(`${ROLE_SELECT} where r.${where.column} = $1`, [where.value])
    );
    return rows[0] ? toRole(rows[0]) : undefined;
  }

  async list(): Promise<Role[]> {
    const rows = await this.#run(() =>
      this.#sql.unsafe<RoleRow[]>(`${ROLE_SELECT} order by r.created_at, r.hash`)
    );
    return rows.map(toRole);
  }

  addGrants(tokenOrId: string, grants: Grant[]): Promise<Role> {
    return this.#change(tokenOrId, async (tx, hash) => {
      for (const g of grants) {
        await tx`insert into catbus_role_grants (role_hash, permission, pattern)
                 values (${hash}, ${g.permission}, ${g.pattern}) on conflict do nothing`;
      }
    });
  }

  removeGrants(tokenOrId: string, grants: Grant[]): Promise<Role> {
    return this.#change(tokenOrId, async (tx, hash) => {
      for (const g of grants) {
        await tx`delete from catbus_role_grants where role_hash = ${hash}
                 and permission = ${g.permission} and pattern = ${g.pattern}`;
      }
    });
  }

  async delete(tokenOrId: string): Promise<Role> {
    const role = await this.find(tokenOrId);
    if (!role) throw this.#notFound(tokenOrId);
    await this.#write(async (tx) => {
      const gone = await tx`delete from catbus_roles where hash = ${role.hash} returning hash`;
      if (!gone.length) throw this.#notFound(tokenOrId);
      return role.hash;
    });
    return role;
  }

  watch(onChange: (roleId?: string) => void): () => void {
    this.#watchers.add(onChange);
    this.#pollTimer ??= setInterval(() => this.#poll(), this.#options.pollMs ?? 1000);
    return () => {
      this.#watchers.delete(onChange);
      if (this.#watchers.size === 0) {
        clearInterval(this.#pollTimer);
        this.#pollTimer = undefined;
      }
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pollTimer);
    await this.#listener?.close();
    await this.#sql.end({ timeout: 1 });
  }

  /** The safety net, and the health check: a change counter that moved means a reload. */
  async #poll() {
    try {
      const version = await this.#changeVersion();
      if (this.#listener) {
        this.#reachable = true;
        this.#reportHealth();
      }
      if (version !== this.#version) {
        this.#version = version;
        this.#notify(undefined);
      }
    } catch (e) {
      this.#reachable = false;
      this.#reportHealth(e);
    }
  }

  async #changeVersion(): Promise<bigint> {
    const [row] = await this.#sql`select version from catbus_role_changes`;
    return BigInt(row.version);
  }

  #notify(roleId: string | undefined) {
    for (const w of this.#watchers) w(roleId);
  }

  /** A role's row by token (its hash) or by public id, as a column and a value. */
  async #where(tokenOrId: string) {
    if (tokenOrId.startsWith("role-")) {
      return { column: "hash", value: await roleHash(tokenOrId) };
    }
    if (/^[0-9a-f]{12}$/.test(tokenOrId)) return { column: "id", value: tokenOrId };
    return undefined;
  }

  async #change(tokenOrId: string, edit: (tx: Tx, hash: string) => Promise<void>): Promise<Role> {
    const where = await this.#where(tokenOrId);
    if (!where) throw this.#notFound(tokenOrId);
    const hash = await this.#write(async (tx) => {
      const [row] = await tx.unsafe(
        `update catbus_roles set updated_at = now() where ${where.column} = $1 returning hash`,
        [where.value],
      );
      if (!row) throw this.#notFound(tokenOrId);
      await edit(tx, row.hash);
      return row.hash as string;
    });
    return await this.#reread(hash);
  }

  /**
   * One change in one transaction: the edit, the counter and the doorbell commit together, so a
   * server that hears the doorbell or sees the counter move reads the change. Resolves with the
   * changed role's hash.
   */
  #write(edit: (tx: Tx) => Promise<string>): Promise<string> {
    return this.#run(() =>
      this.#sql.begin(async (tx) => {
        const hash = await edit(tx);
        await tx`update catbus_role_changes set version = version + 1`;
        await tx`select pg_notify(${ROLES_CHANNEL}, ${hash.slice(0, 12)})`;
        return hash;
      })
    );
  }

  /** The role as it is after a change. */
  async #reread(hash: string): Promise<Role> {
    const role = await this.find(hash.slice(0, 12));
    if (!role) throw this.#notFound(hash.slice(0, 12));
    return role;
  }

  #notFound(tokenOrId: string) {
    return notFound(tokenOrId.startsWith("role-") ? "token" : `"${tokenOrId}"`);
  }

  /** Runs a statement; PostgreSQL's own failures become errors that say what to do. */
  async #run<T>(statement: () => Promise<T>): Promise<T> {
    try {
      return await statement();
    } catch (e) {
      if (isCatbusError(e)) throw e;
      if (isConnectionError(e)) {
        throw new CatbusError(
          ErrorCode.Unavailable,
          `the role database (${redactUrl(this.#url)}) is unreachable: ${
            (e as Error).message
          }; retry once it is back (\`catbus status\` checks it)`,
          { cause: e },
        );
      }
      if ((e as { code?: string }).code === "42P01") {
        throw new CatbusError(
          ErrorCode.Unavailable,
          "the database has no Catbus schema: run `catbus init --database-url URL`",
          { cause: e },
        );
      }
      throw e;
    }
  }
}
