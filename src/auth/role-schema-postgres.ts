import type { Sql } from "../connectors/postgres/connect.ts";
import {
  migrateSchema,
  requireSchema,
  type Schema,
  versionOf,
} from "../connectors/postgres/migrations.ts";

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

const ROLES_SCHEMA: Schema = {
  what: "roles",
  versionTable: "catbus_schema",
  migrations: MIGRATIONS,
};

/** The schema version in the database; 0 when Catbus's tables are not there. */
export const schemaVersion = (sql: Sql): Promise<number> => versionOf(sql, ROLES_SCHEMA);

/** Brings the roles schema to SCHEMA_VERSION (see migrateSchema). */
export const migrate = (sql: Sql): Promise<{ from: number; to: number }> =>
  migrateSchema(sql, ROLES_SCHEMA);

/** Refuses to run on a schema this build does not know: newer (upgrade) or older (`catbus init`). */
export const checkSchema = (sql: Sql): Promise<void> => requireSchema(sql, ROLES_SCHEMA);
