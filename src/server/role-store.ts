import type { RoleStore } from "../auth/role-store.ts";
import { FileRoleStore } from "../auth/role-store-file.ts";
import { ValkeyRoleStore } from "../auth/role-store-valkey.ts";

/** Where roles live: beside the streams (Valkey, shared by every node) or in DATA/roles.json. */
export function openRoleStore(where: {
  engine: string;
  valkeyUrl: string;
  valkeyPrefix: string;
  data: string;
}): RoleStore {
  return where.engine === "valkey"
    ? new ValkeyRoleStore(where.valkeyUrl, where.valkeyPrefix)
    : new FileRoleStore(where.data);
}
