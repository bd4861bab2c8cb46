import type { RoleStore } from "../auth/role-store.ts";
import { FileRoleStore } from "../auth/role-store-file.ts";
import { ValkeyRoleStore } from "../auth/role-store-valkey.ts";
import { connection } from "../streams/valkey/connection.ts";

/** Where roles live: beside the streams (Valkey, shared by every node) or in DATA/roles.json. */
export function openRoleStore(where: {
  engine: string;
  valkeyUrl: string;
  valkeyPrefix: string;
  valkeyCluster: boolean;
  data: string;
}): RoleStore {
  if (where.engine !== "valkey") return new FileRoleStore(where.data);
  const connect = () =>
    connection(where.valkeyUrl, where.valkeyCluster, {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
    });
  return new ValkeyRoleStore(connect, where.valkeyPrefix);
}
