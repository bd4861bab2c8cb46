import type { Logger } from "../core/logger.ts";
import type { StreamEngine } from "../core/stream-engine.ts";
import type { BlockSize } from "../log/encryption.ts";
import { parseFsyncPolicy } from "../log/fsync-policy.ts";
import type { LogOptions } from "../log/log.ts";
import { StreamStore } from "../streams/stream-store.ts";
import { ValkeyEngine } from "../streams/valkey/valkey-engine.ts";
import { PostgresEngine } from "../streams/postgres/postgres-engine.ts";
import type { ServerConfig } from "./config.ts";
import { FileConsumerStore } from "../streams/consumer-store.ts";
import type { ConsumerLeases, ConsumerStore } from "../streams/consumer-registry.ts";
import { isClusterEngine, type NodeChannels } from "../streams/node-channels.ts";

/**
 * The stream engine `--engine` names: the local log in DATA, or streams shared on Valkey or
 * PostgreSQL.
 */
export async function openStreamEngine(
  config: ServerConfig,
  log: Logger,
  timings: Pick<LogOptions, "onSync" | "onCommit"> = {},
): Promise<StreamEngine> {
  const retention = {
    maxAgeMs: config.retentionMaxAgeMs,
    maxMessages: config.retentionMaxMessages,
    maxBytes: config.retentionMaxBytes,
  };
  if (config.engine !== "local" && retention.maxBytes) {
    log("warn", `--retention-max-bytes is not applied by the ${config.engine} engine`, {
      hint: "bound the streams with --retention-max-messages or --retention-max-age",
    });
  }
  if (config.engine === "postgres") {
    const engine = await PostgresEngine.connect({
      url: config.databaseUrl!,
      dedupeWindowMs: config.dedupeMaxKeys === 0 ? 0 : config.dedupeWindowMs,
      retention,
      pollIntervalMs: config.postgresPollIntervalMs,
      maxNamespaces: config.maxNamespaces,
      log,
    });
    log("info", "stream engine: postgres", {});
    return engine;
  }
  if (config.engine === "valkey") {
    const engine = await ValkeyEngine.connect({
      url: config.valkeyUrl,
      cluster: config.valkeyCluster,
      prefix: config.valkeyPrefix,
      dedupeWindowMs: config.dedupeMaxKeys === 0 ? 0 : config.dedupeWindowMs,
      retention,
      checkIntervalMs: config.valkeyCheckIntervalMs,
      maxNamespaces: config.maxNamespaces,
      log,
    });
    log("info", "stream engine: valkey", { prefix: config.valkeyPrefix });
    return engine;
  }
  return new StreamStore(config.data, {
    ...timings,
    fsync: parseFsyncPolicy(config.fsync),
    segmentBytes: config.segmentBytes,
    encryption: config.encryptionSecret
      ? {
        secret: config.encryptionSecret,
        blockSize: config.encryptionBlockSize as BlockSize,
      }
      : undefined,
  }, {
    retention,
    maxNamespaces: config.maxNamespaces,
    maxOpenFiles: config.maxOpenSegments,
    onLoss: (namespace, losses, epochs) =>
      log("warn", "stored messages are missing; the stream starts a new epoch", {
        namespace,
        missing: losses.map((l) => `${l.fromSeq}-${l.toSeq} (${l.reason})`).join(", "),
        epoch: epochs.to,
        previous_epoch: epochs.from,
      }),
  });
}

/**
 * Where durable consumers' states live: beside the streams in Valkey or PostgreSQL, shared by the
 * nodes with a lease per consumer, or in DATA/consumers/.
 */
export async function openConsumerStore(
  config: ServerConfig,
  engine: StreamEngine,
): Promise<{ store: ConsumerStore; leases?: ConsumerLeases }> {
  if (engine instanceof ValkeyEngine) {
    const store = await engine.consumerStore(config.valkeyConsumerLeaseMs);
    return { store, leases: store };
  }
  if (engine instanceof PostgresEngine) {
    const store = await engine.consumerStore(config.postgresConsumerIntervalMs);
    return { store, leases: store };
  }
  return { store: new FileConsumerStore(config.data, { sync: config.fsync === "always" }) };
}

/**
 * This node's channels to the others when the engine is shared (requests, replies and
 * confirmations across nodes, the node list of the welcome); undefined on the local engine.
 */
export async function openNodeChannels(
  config: ServerConfig,
  engine: StreamEngine,
): Promise<NodeChannels | undefined> {
  if (!isClusterEngine(engine)) return undefined;
  return await engine.nodeChannels({ urls: config.advertiseUrls, ttlMs: config.nodeTtlMs });
}
