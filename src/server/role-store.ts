import type { RoleStore } from "../auth/role-store.ts";
import { FileRoleStore } from "../auth/role-store-file.ts";
import { PostgresRoleStore, type PostgresRoleStoreOptions } from "../auth/role-store-postgres.ts";
import { ValkeyRoleStore } from "../auth/role-store-valkey.ts";
import { connection } from "../streams/valkey/connection.ts";

/**
 * Where roles live: in PostgreSQL when a database is configured; else beside the streams
 * (Valkey, shared by every node); else in DATA/roles.json.
 */
export function openRoleStore(
  where: {
    databaseUrl?: string;
    engine: string;
    valkeyUrl: string;
    valkeyPrefix: string;
    valkeyCluster: boolean;
    data: string;
  },
  postgres: PostgresRoleStoreOptions = {},
): RoleStore {
  if (where.databaseUrl) return new PostgresRoleStore(where.databaseUrl, postgres);
  if (where.engine !== "valkey") return new FileRoleStore(where.data);
  const connect = () =>
    connection(where.valkeyUrl, where.valkeyCluster, {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
    });
  return new ValkeyRoleStore(connect, where.valkeyPrefix);
}
