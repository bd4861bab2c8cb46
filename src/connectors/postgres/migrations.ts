import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import type { Sql } from "./connect.ts";

/**
 * One schema's numbered migrations and the one-row table that records how many were applied.
 * Each component with tables of its own (roles, streams) has one, so each can move on alone.
 */
export interface Schema {
  /** What the tables are for, in messages ("roles", "streams"). */
  what: string;
  /** The table holding the version (one row). */
  versionTable: string;
  migrations: readonly string[];
}

/** pg_advisory_xact_lock key of migrations: "catbus" in ASCII. */
const MIGRATION_LOCK = 0x636174627573;

const UNDEFINED_TABLE = "42P01";

/** The schema's version in the database; 0 when its tables are not there. */
export async function versionOf(sql: Sql, schema: Schema): Promise<number> {
  try {
    const [row] = await sql`select version from ${sql(schema.versionTable)}`;
    return row ? Number(row.version) : 0;
  } catch (e) {
    if ((e as { code?: string }).code === UNDEFINED_TABLE) return 0;
    throw e;
  }
}

/**
 * Brings the schema to its newest version in one transaction under an advisory lock, so two
 * `catbus init` at once (from two machines) apply each migration once. Returns the versions
 * before and after; refuses a database newer than this build.
 */
export async function migrateSchema(
  sql: Sql,
  schema: Schema,
): Promise<{ from: number; to: number }> {
  const to = schema.migrations.length;
  return await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    const table = tx(schema.versionTable);
    await tx`create table if not exists ${table} (version integer not null)`;
    const [row] = await tx`select version from ${table}`;
    const from = row ? Number(row.version) : 0;
    if (!row) await tx`insert into ${table} values (0)`;
    if (from > to) throw newerSchema(schema, from);
    for (const step of schema.migrations.slice(from)) await tx.unsafe(step);
    await tx`update ${table} set version = ${to}`;
    return { from, to };
  });
}

/** Refuses to run on a schema this build does not know: newer (upgrade) or older (`catbus init`). */
export async function requireSchema(sql: Sql, schema: Schema): Promise<void> {
  const version = await versionOf(sql, schema);
  const wanted = schema.migrations.length;
  if (version > wanted) throw newerSchema(schema, version);
  if (version < wanted) {
    throw new CatbusError(
      ErrorCode.Unavailable,
      `the database's ${schema.what} schema is at version ${version}, this catbusd needs ` +
        `${wanted}: run \`catbus init --database-url URL\` to create or migrate it`,
    );
  }
}

const newerSchema = (schema: Schema, version: number) =>
  new CatbusError(
    ErrorCode.Conflict,
    `the database's ${schema.what} schema is at version ${version}, newer than this build knows ` +
      `(${schema.migrations.length}): upgrade catbus before using this database`,
  );
