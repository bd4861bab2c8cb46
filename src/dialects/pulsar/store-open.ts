import type { Logger } from "../../core/logger.ts";
import { PulsarStore } from "./store.ts";
import { FileStateBackend } from "./store-file.ts";
import { PostgresStateBackend } from "./store-postgres.ts";
import { ValkeyStateBackend } from "./store-valkey.ts";

/** Where the server keeps things: the settings that choose the Pulsar store. */
export interface PulsarStoreWhere {
  data: string;
  engine?: string;
  databaseUrl?: string;
  valkeyUrl?: string;
  valkeyPrefix?: string;
  valkeyCluster?: boolean;
}

/**
 * The Pulsar store the settings choose: Valkey with the Valkey engine (`PULSAR_STORAGE_BACKEND=valkey`
 * selects it), else PostgreSQL when a database URL is given, else the data directory.
 */
export async function openPulsarStore(where: PulsarStoreWhere, log: Logger): Promise<PulsarStore> {
  if (where.engine === "valkey" && where.valkeyUrl) {
    return await PulsarStore.on(
      await ValkeyStateBackend.open(where.valkeyUrl, {
        prefix: where.valkeyPrefix ?? "",
        cluster: where.valkeyCluster ?? false,
        log,
      }),
    );
  }
  if (where.databaseUrl) {
    return await PulsarStore.on(await PostgresStateBackend.open(where.databaseUrl, log));
  }
  return await PulsarStore.on(await FileStateBackend.open(where.data, log));
}
