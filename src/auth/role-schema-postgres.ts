import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { Sql } from "../connectors/postgres/connect.ts";

/**
 * The schema of Catbus's tables in PostgreSQL, as numbered migrations. `catbus init` applies the
 * missing ones; catbusd only checks the version, so a server never changes a schema that other
 * (older or newer) servers may be using.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE catbus_roles (
     hash text PRIMARY KEY,
     id text NOT NULL UNIQUE,
     name text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE TABLE catbus_role_grants (
     role_hash text NOT NULL REFERENCES catbus_roles (hash) ON DELETE CASCADE,
     permission text NOT NULL CHECK (permission IN ('read', 'write', 'create')),
     pattern text NOT NULL,
     added bigint GENERATED ALWAYS AS IDENTITY,
     PRIMARY KEY (role_hash, permission, pattern)
   );
   -- One row: bumped by every change to roles, read by each server's poll.
   CREATE TABLE catbus_role_changes (version bigint NOT NULL);
   INSERT INTO catbus_role_changes VALUES (0);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The channel of the roles doorbell; its payload is a role's public id. */
export const ROLES_CHANNEL = "catbus_roles";

/** pg_advisory_xact_lock key of migrations: "catbus" in ASCII. */
const MIGRATION_LOCK = 0x636174627573;

const UNDEFINED_TABLE = "42P01";

/** The schema version in the database; 0 when Catbus's tables are not there. */
export async function schemaVersion(sql: Sql): Promise<number> {
  try {
    const [row] = await sql`select version from catbus_schema`;
    return row ? Number(row.version) : 0;
  } catch (e) {
    if ((e as { code?: string }).code === UNDEFINED_TABLE) return 0;
    throw e;
  }
}

/**
 * Brings the schema to SCHEMA_VERSION in one transaction under an advisory lock, so two
 * `catbus init` at once (from two machines) apply each migration once. Returns the versions
 * before and after; refuses a database newer than this build.
 */
export async function migrate(sql: Sql): Promise<{ from: number; to: number }> {
  return await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`create table if not exists catbus_schema (version integer not null)`;
    const [row] = await tx`select version from catbus_schema`;
    const from = row ? Number(row.version) : 0;
    if (!row) await tx`insert into catbus_schema values (0)`;
    if (from > SCHEMA_VERSION) throw newerSchema(from);
    for (const step of MIGRATIONS.slice(from)) await tx.unsafe(step);
    await tx`update catbus_schema set version = ${SCHEMA_VERSION}`;
    return { from, to: SCHEMA_VERSION };
  });
}

/** Refuses to run on a schema this build does not know: newer (upgrade) or older (`catbus init`). */
export async function checkSchema(sql: Sql): Promise<void> {
  const version = await schemaVersion(sql);
  if (version > SCHEMA_VERSION) throw newerSchema(version);
  if (version < SCHEMA_VERSION) {
    throw new CatbusError(
      ErrorCode.Unavailable,
      `the database schema is at version ${version}, this catbusd needs ${SCHEMA_VERSION}: ` +
        "run `catbus init --database-url URL` to create or migrate it",
    );
  }
}

const newerSchema = (version: number) =>
  new CatbusError(
    ErrorCode.Conflict,
    `the database schema is at version ${version}, newer than this build knows ` +
      `(${SCHEMA_VERSION}): upgrade catbus before using this database`,
  );
