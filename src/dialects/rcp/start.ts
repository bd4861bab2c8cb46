import { join } from "node:path";
import type { Broker } from "../../core/broker.ts";
import { parseAddress } from "../../core/address.ts";
import type { SettingOrigins, SettingsOf } from "../../core/settings.ts";
import type { Logger } from "../../core/logger.ts";
import { bridgeToBus } from "../../sm/bus-bridge.ts";
import { StateMachineEngine } from "../../sm/engine.ts";
import { badRequest } from "../../sm/errors.ts";
import { parseSmFsyncPolicy } from "../../sm/fsync.ts";
import type { smSettings } from "../../sm/settings.ts";
import type { rcpSettings } from "./settings.ts";
import { AuthThrottle } from "./auth-throttle.ts";
import { listenRcp } from "./listener.ts";
import { type AcceptReport, type Admission, refuseWith } from "../../transport/accept-loop.ts";
import type { SessionRegistry } from "../../auth/live-connections.ts";
import { errorResponse } from "./messages.ts";
import { encodeFrame } from "./frame.ts";
import { RcpSession } from "./session.ts";
import { parseTokenHashes, TokenVerifier } from "./token-hashes.ts";
import { WatchHub } from "./watch-hub.ts";
import { smAdminRoutes } from "./admin-routes.ts";
import type { AdminRoute } from "../door.ts";

export interface RcpService {
  /** e.g. rcp://127.0.0.1:7401 (rcps:// with TLS) */
  url: string;
  /** The state machines as the admin API shows them. */
  adminRoutes: AdminRoute[];
  close(): Promise<void>;
}

/** What the RCP door is told: its own settings, the engine's, and two of the server's. */
export type RcpConfig =
  & SettingsOf<typeof rcpSettings.settings>
  & SettingsOf<typeof smSettings.settings>
  & { data: string; maxJsonDepth: number }
  & { origins: SettingOrigins<keyof typeof rcpSettings.settings> };

const SERVER_NAME = "catbus";
const SERVER_VERSION = "0.1.0";
/** Outbound bytes per connection before watchers are ended and reading pauses. */
const OUTBOUND_LIMIT = 8 * 1024 * 1024;

async function readConfigFile(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw badRequest(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

async function tokenVerifier(config: RcpConfig): Promise<TokenVerifier> {
  const hashes = parseTokenHashes(config.rcpTokenHashes, config.origins.rcpTokenHashes);
  if (config.rcpSecretsFile) {
    const text = await readConfigFile(config.rcpSecretsFile, config.origins.rcpSecretsFile);
    hashes.push(...parseTokenHashes(text.split("\n"), config.rcpSecretsFile));
  }
  if (config.rcpAuthRequired && !hashes.length) {
    throw badRequest(
      `${config.origins.rcpAuthRequired} is set but no token hashes are configured: add some ` +
        "with --rcp-token-hashes, " +
        "RSTMDB_AUTH_TOKEN_HASH or auth.secrets_file (make them with `catbus sm hash-token TOKEN`)",
    );
  }
  return new TokenVerifier(config.rcpAuthRequired, hashes);
}

async function tlsOptions(config: RcpConfig) {
  const enabled = config.rcpTls ?? config.rcpTlsCert !== undefined;
  if (!enabled) return undefined;
  if (!config.rcpTlsCert || !config.rcpTlsKey) {
    throw badRequest(
      "RCP TLS needs both tls.cert_path and tls.key_path (--rcp-tls-cert, --rcp-tls-key)",
    );
  }
  if (config.rcpRequireClientCert && !config.rcpClientCa) {
    throw badRequest("tls.require_client_cert needs tls.client_ca_path (--rcp-client-ca)");
  }
  return {
    cert: await readConfigFile(config.rcpTlsCert, "TLS certificate"),
    key: await readConfigFile(config.rcpTlsKey, "TLS key"),
    clientCa: config.rcpRequireClientCert
      ? await readConfigFile(config.rcpClientCa!, "client CA")
      : undefined,
  };
}

/**
 * Opens the state-machine database, bridges it to the bus and starts the RCP listener, whose
 * authenticated connections join `live` (the registry of every door's connections).
 */
export async function startRcpService(
  config: RcpConfig & { rcpBind: string },
  broker: Broker,
  log: Logger,
  door: { admit: Admission; report: AcceptReport; live: Pick<SessionRegistry, "add" | "delete"> },
): Promise<RcpService> {
  const address = parseAddress(config.rcpBind, config.origins.rcpBind)!;
  const auth = await tokenVerifier(config);
  const tls = await tlsOptions(config);
  const engine = await StateMachineEngine.open({
    dir: config.smData ?? join(config.data, "sm"),
    fsync: parseSmFsyncPolicy(config.smFsync),
    segmentBytes: config.smSegmentBytes,
    maxMachineVersions: config.smMaxMachineVersions,
    idempotencyWindowMs: config.smIdempotencyWindowMs,
    allowFlushAll: config.smAllowFlushAll,
    compaction: {
      enabled: config.smCompaction,
      eventsThreshold: config.smCompactEvents,
      sizeThresholdBytes: config.smCompactSizeBytes,
    },
    log,
  });
  const unbridge = await bridgeToBus(engine, broker, log);
  const watches = new WatchHub(engine);
  const host = {
    engine,
    watches,
    auth,
    serverName: SERVER_NAME,
    serverVersion: SERVER_VERSION,
    outboundLimitBytes: OUTBOUND_LIMIT,
    authThrottle: new AuthThrottle(config.rcpAuthMaxFailures),
    maxJsonDepth: config.maxJsonDepth,
    live: door.live,
  };
  let listener;
  try {
    listener = await listenRcp({
      ...address,
      tls,
      maxConnections: config.rcpMaxConnections,
      helloTimeoutMs: config.rcpHelloTimeoutMs,
      idleTimeoutMs: config.rcpIdleTimeoutMs,
      accept: (connection) => new RcpSession(host, connection),
      door: {
        admit: door.admit,
        report: door.report,
        refuse: (connection) => {
          const error = errorResponse("", {
            code: "RATE_LIMITED",
            message:
              `the server is at its connection limit (--rcp-max-connections ${config.rcpMaxConnections}, ` +
              "--max-connections, --max-connections-per-door); retry later",
            retryable: true,
          });
          refuseWith(
            () => connection.write(encodeFrame(new TextEncoder().encode(JSON.stringify(error)))),
            () => connection.close(),
          );
        },
      },
    });
  } catch (e) {
    unbridge();
    watches.close();
    await engine.close();
    throw badRequest(
      `cannot listen on ${config.rcpBind} (${config.origins.rcpBind}): ${(e as Error).message}`,
    );
  }
  const displayHost = address.hostname === "0.0.0.0" || address.hostname === "::"
    ? "127.0.0.1"
    : address.hostname;
  return {
    url: `rcp${tls ? "s" : ""}://${displayHost}:${listener.port}`,
    adminRoutes: smAdminRoutes(engine),
    async close() {
      listener.close();
      unbridge();
      watches.close();
      await engine.close();
    },
  };
}
