import { Authenticator } from "../auth/authenticator.ts";
import type { RoleStore } from "../auth/role-store.ts";
import { Broker } from "../core/broker.ts";
import { PresenceRegistry } from "../core/presence.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { ReplyPermits } from "../core/replies.ts";
import { RESERVED_NAMESPACES } from "../../client/shared/subject.ts";
import { acceptReport, ConnectionLimits, type DoorName } from "./connection-limits.ts";
import { type ServerConfig, SETTING_GROUPS } from "./config.ts";
import { configError, settingsSummary } from "../core/settings-resolve.ts";
import { adminApi } from "./admin/api.ts";
import { consoleFiles } from "./admin/console.ts";
import { type DataDirLock, ensureDataDir, loadOrCreateSecret, lockDataDir } from "./data-dir.ts";
import { ConsumerRegistry } from "../streams/consumer-registry.ts";
import type { DoorServices, RunningDoor } from "../dialects/door.ts";
import type { HttpLimits } from "../transport/http-server.ts";
import { DOORS } from "./doors.ts";
import { type Logger, withFields } from "../core/logger.ts";
import { createLogger } from "./log.ts";
import { connectionLogFields, SessionRegistry } from "../auth/live-connections.ts";
import { type OpenFileLimit, raiseOpenFileLimit } from "./open-files.ts";
import { NamespacePolicy } from "./namespace-policy.ts";
import { openConsumerStore, openNodeChannels, openStreamEngine } from "./stream-engine.ts";
import { NodeRelay } from "../streams/node-relay.ts";
import { ConsumerRelay } from "../streams/consumer-relay.ts";
import { openRoleStore } from "./role-store.ts";
import { VERSION } from "./version.ts";
import { ServerMetrics } from "./metrics.ts";
import { meteredReplies } from "../access/metered.ts";
import { serveMetrics } from "./metrics-listener.ts";

export const SERVER_NAME = `catbusd/${VERSION}`;

export interface RunningServer {
  /**
   * Where the doors listen, by name, as the start-up line shows them: `http`, `websocket`,
   * `tcp`, `webtransport` (and `cert_hash`), `bus`, `rcp`…
   */
  endpoints: Record<string, string>;
  broker: Broker;
  /** Drains: stops accepting, /ready answers 503, sessions get a `shutdown` error, stores close. */
  close(reason?: string): Promise<void>;
}

/** `origin` names the setting as it was given (`--cert`, `CATBUS_CERT`, `c.yaml: tls.cert`). */
const readPem = async (path: string, what: string, origin: string) => {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `cannot read TLS ${what} ${path} (${origin}): ${(e as Error).message}`,
    );
  }
};

/**
 * The connection limit to run with. Left at its default, it fits the open-file limit (less room
 * for the log's files), so a default start never promises connections it cannot open; given, it
 * is kept, and a lower open-file limit is warned about.
 */
function fitConnectionLimit(
  log: Logger,
  limit: OpenFileLimit | undefined,
  config: ServerConfig,
): number {
  if (!limit) {
    log("info", "open-file limit unknown (cannot read it on this system)");
    return config.maxConnections;
  }
  const show = (n: number) => Number.isFinite(n) ? n : "unlimited";
  // A quarter of the descriptors stays for the log's segment files and everything else.
  const room = Math.floor(limit.soft * 3 / 4);
  const fitted = config.origins.maxConnections?.endsWith("(default)") &&
    room < config.maxConnections;
  const maxConnections = fitted ? room : config.maxConnections;
  log("info", "open-file limit", {
    soft: show(limit.soft),
    hard: show(limit.hard),
    ...(limit.raisedFrom !== undefined ? { raised_from: limit.raisedFrom } : {}),
    max_connections: maxConnections,
  });
  if (!fitted && limit.soft <= maxConnections) {
    log("warn", "the open-file limit is below --max-connections: connections beyond it fail", {
      open_files: limit.soft,
      max_connections: maxConnections,
      hint: "raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower --max-connections",
    });
  }
  return maxConnections;
}

/**
 * The URLs this node is listed under for clients (the welcome's `nodes`): --advertise-url, or
 * its WebSocket listener (under the machine's name when it listens on every interface).
 */
function advertisedUrls(config: ServerConfig, endpoints: Record<string, string>): string[] {
  if (config.advertiseUrls.length) return config.advertiseUrls;
  if (!endpoints.http) return [];
  const url = new URL(endpoints.http.replace(/^http/, "ws"));
  if (/^(0\.0\.0\.0|\[?::\]?)(:|$)/.test(config.bind)) url.hostname = Deno.hostname();
  return [url.origin];
}

/** The console and admin API: on by default when there is an admin key, which they need. */
function consoleEnabled(config: ServerConfig): boolean {
  const on = config.console ?? config.adminKey !== undefined;
  if (on && !config.adminKey) {
    throw configError(
      config.origins.console,
      "the console needs an admin key to log in with: set --admin-key (CATBUS_ADMIN_KEY)",
    );
  }
  return on;
}

/** Starts every listener of one catbusd and returns once they accept connections. */
export async function startServer(
  config: ServerConfig,
): Promise<RunningServer> {
  consoleEnabled(config);
  const log = createLogger(config.logLevel, config.logFile, config.logFormat);
  log("info", "catbusd starting", {
    version: VERSION,
    pid: Deno.pid,
    settings: settingsSummary(SETTING_GROUPS, { values: config, origins: config.origins }),
  });
  config = { ...config, maxConnections: fitConnectionLimit(log, raiseOpenFileLimit(), config) };
  await ensureDataDir(config.data);
  const lock = await lockDataDir(config.data, "catbusd");
  try {
    return await startLocked(config, log, lock);
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** The `--jwt-public-key` file: a PEM public key (SPKI), refused at start-up otherwise. */
async function readPublicKey(path: string): Promise<string> {
  let pem: string;
  try {
    pem = await Deno.readTextFile(path);
  } catch (e) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `--jwt-public-key: cannot read ${path}: ${(e as Error).message}`,
    );
  }
  if (!pem.includes("-----BEGIN PUBLIC KEY-----")) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `--jwt-public-key: ${path} is not a PEM public key (-----BEGIN PUBLIC KEY-----; ` +
        "convert a certificate with: openssl x509 -pubkey -noout -in cert.pem)",
    );
  }
  return pem;
}

async function startLocked(
  config: ServerConfig,
  log: ReturnType<typeof createLogger>,
  lock: DataDirLock,
): Promise<RunningServer> {
  const secret = config.secret ?? await loadOrCreateSecret(config.data);
  const roles = openRoleStore(config, {
    pollMs: config.rolePollMs,
    applicationName: `catbusd ${Deno.pid}`,
    log,
  });
  try {
    await roles.start?.();
    return await startWithRoles(config, log, lock, secret, roles);
  } catch (e) {
    await roles.close();
    throw e;
  }
}

async function startWithRoles(
  config: ServerConfig,
  log: ReturnType<typeof createLogger>,
  lock: DataDirLock,
  secret: string,
  roles: RoleStore,
): Promise<RunningServer> {
  const startedAt = Date.now();
  // Its sources are read when scraped, once everything below exists.
  const metrics: ServerMetrics = new ServerMetrics({
    version: VERSION,
    maxNamespaces: config.metricsMaxNamespaces,
    sources: {
      connections: () => limits.openByDoor(),
      liveConnections: () => sessions.size,
      namespaces: () => [...broker.namespaces()].length,
      consumers: () => consumers.list(),
      engineAvailable: () => streams.available?.() ?? true,
    },
  });
  const streams = await openStreamEngine(config, log, {
    onSync: (seconds) => metrics.fsynced(seconds),
    onCommit: (seconds) => metrics.committed(seconds),
  });
  const nodeChannels = await openNodeChannels(config, streams);
  const relay = nodeChannels && new NodeRelay(nodeChannels, log);
  const reserved = new Set<string>(RESERVED_NAMESPACES);
  // Reply inboxes are live traffic: no point in storing them. `sm` carries copies of state
  // machine transitions whose durable record is the state-machine log (resume from memory;
  // replay after a restart through RCP WATCH). `$sys` is stored (dead letters).
  // `pg` carries copies of PostgreSQL notifications (the Alle door), live traffic as NOTIFY is,
  // unless --alle-persist stores them.
  const ephemeral = new Set<string>(["_inbox", "_bus_", "sm"]);
  if (!config.allePersist) ephemeral.add("pg");
  const namespaces = await NamespacePolicy.load(config.data, config.namespaces);
  // A namespace declared ephemeral after it stored messages stays stored: nothing stored is
  // ever hidden. Namespaces opened later are opened once, so the list at start is enough.
  const stored = new Set(await streams.list());
  if (stored.has("pg") && !config.allePersist) {
    log(
      "warn",
      "the namespace pg has stored notifications; they are not served without " +
        "--alle-persist (kept until the retention drops them)",
    );
  }
  for (const name of stored) {
    if (!namespaces.ephemeral(name)) continue;
    log("warn", "namespace declared ephemeral has stored messages; it stays stored", {
      namespace: name,
    });
  }
  const broker = new Broker({
    history: {
      maxMessages: config.historyMessages,
      maxBytes: config.historyBytes,
    },
    storage: streams,
    ephemeral: (name) => ephemeral.has(name) || (namespaces.ephemeral(name) && !stored.has(name)),
    // BUS_DUP_SIZE=0 turns dedupe off, as in the original.
    dedupeWindowMs: config.dedupeMaxKeys === 0 ? 0 : config.dedupeWindowMs,
    dedupeMaxKeys: config.dedupeMaxKeys,
    maxPerChannel: config.retentionMaxPerChannel,
    onStorageFailure: (namespace, messages) => metrics.storageFailed(namespace, messages),
    peers: relay,
  });
  relay?.start(broker);
  // A shared engine: namespaces other nodes create are followed here too.
  streams.watchList?.((name) =>
    broker.createNamespace(name).catch((e) =>
      log("warn", "cannot open a namespace another node created", {
        namespace: name,
        error: String(e),
      })
    )
  );
  await broker.load();
  for (const name of reserved) await broker.createNamespace(name);
  const consumerStore = await openConsumerStore(config, streams);
  const leases = consumerStore.leases;
  // Members of a consumer another node runs are served from there (settlements answered
  // within a node's TTL, or the client hears `unavailable`).
  const consumerRelay = nodeChannels && leases &&
    new ConsumerRelay(nodeChannels, log, {
      intervalMs: leases.intervalMs,
      timeoutMs: config.nodeTtlMs,
    });
  const consumers = new ConsumerRegistry(broker, consumerStore.store, log, {
    maxConsumers: config.maxConsumers,
    leases,
    peers: consumerRelay || undefined,
  });
  if (consumerRelay) consumerRelay.start(consumers);
  await consumers.load();
  await streams.applyRetention();
  const retentionTimer = setInterval(() => {
    streams.applyRetention().catch((e) => log("warn", "retention failed", { error: String(e) }));
  }, 60_000);
  const presence = new PresenceRegistry({
    ttlMs: config.presenceTtlMs,
    maxMembers: config.maxPresenceMembers,
  });
  const presenceSweep = setInterval(
    () => presence.sweep(Date.now()),
    Math.max(1000, config.presenceTtlMs / 4),
  );

  const limits = new ConnectionLimits(config.maxConnections, config.maxConnectionsPerDoor, log);
  const admissionOf = (name: DoorName) => ({
    admit: limits.door(name),
    report: acceptReport(log, name),
  });
  const sessions = new SessionRegistry();
  sessions.watchRoles(roles);
  sessions.startSweeping(
    Math.min(config.heartbeatMs, 1000),
    config.heartbeatMs,
    config.slowConsumerTimeoutMs,
  );
  const tls = config.cert && config.key
    ? {
      cert: await readPem(config.cert, "certificate", config.origins.cert),
      key: await readPem(config.key, "key", config.origins.key),
    }
    : undefined;
  let ready = true;
  const replies = new ReplyPermits({ windowMs: config.replyWindowMs, max: config.maxReplyPermits });
  /** What a door is given to count its traffic: its own view of the shared reply permits. */
  const repliesOf = (door: DoorName) => meteredReplies(replies, metrics.door(door));
  const checkNamespace = (name: string) => namespaces.check(name);
  const admin = consoleEnabled(config)
    ? adminApi({
      broker,
      consumers,
      live: sessions,
      roles,
      secret,
      adminKey: config.adminKey!,
      replies: repliesOf("console"),
      checkNamespace,
      limits: { maxPayload: config.maxPayload, maxJsonDepth: config.maxJsonDepth },
      connections: () => limits.openByDoor(),
      traffic: () => metrics.totals(),
      retention: {
        maxAgeMs: config.retentionMaxAgeMs,
        maxMessages: config.retentionMaxMessages,
        maxBytes: config.retentionMaxBytes,
      },
      version: VERSION,
      engine: config.engine,
      ...nodeChannels
        ? { cluster: () => ({ self: nodeChannels.node, nodes: nodeChannels.nodes() }) }
        : {},
      startedAt,
      data: config.data,
      tls: tls !== undefined,
      sessionMs: config.consoleSessionMs,
      log,
      doorRoutes: () =>
        [...doors].flatMap(([name, d]) =>
          d.adminRoutes ? [[name, d.adminRoutes] as [string, typeof d.adminRoutes]] : []
        ),
    })
    : undefined;
  /** The same for every HTTP door: the native one, Bus, and those to come. */
  const httpLimits: HttpLimits = {
    headerTimeoutMs: config.httpHeaderTimeoutMs,
    idleTimeoutMs: config.httpIdleTimeoutMs,
    maxHeaderBytes: config.httpMaxHeaderBytes,
    maxHeaders: config.httpMaxHeaders,
    maxWebSocketMessageBytes: config.websocketMaxMessage,
  };
  /** What every door is given; its own parts (slots, meter, log, live registry) are added below. */
  const services: Omit<DoorServices, "admission" | "replies" | "live"> = {
    broker,
    consumers,
    presence,
    authenticator: new Authenticator({
      adminKey: config.adminKey,
      secrets: [secret, ...config.previousSecrets],
      tokens: {
        publicKey: config.jwtPublicKey ? await readPublicKey(config.jwtPublicKey) : undefined,
        jwksUrl: config.jwksUrl,
        audience: config.jwtAudience,
        issuer: config.jwtIssuer,
      },
      roles,
    }),
    checkNamespace,
    log,
    admissionOf,
    readiness: () =>
      !ready
        ? "shutting_down"
        : !(streams.available?.() ?? true)
        ? "engine_unavailable"
        : roles.healthy === false
        ? "database_unavailable"
        : "ready",
    serverName: SERVER_NAME,
    ...nodeChannels ? { nodeUrls: () => nodeChannels.urls() } : {},
    sharedStorage: streams.watchList !== undefined,
    routes: [
      ...config.metrics ? [{ prefix: "/metrics", handle: () => metrics.respond() }] : [],
      ...admin ? [admin, consoleFiles()] : [],
    ],
    metrics: metrics.registry,
    http: httpLimits,
    ...(tls ? { tls } : {}),
  };
  /** The registered doors that are on, by name. */
  const doors = new Map<string, RunningDoor>();
  const closeDoors = async () => {
    for (const d of doors.values()) await d.close();
  };
  let metricsListener: ReturnType<typeof serveMetrics> | undefined;
  try {
    for (const d of DOORS) {
      const doorLog = withFields(log, { door: d.name });
      const running = await d.start(config, {
        ...services,
        replies: repliesOf(d.name),
        admission: admissionOf(d.name),
        log: doorLog,
        // Every door's authenticated connections pass here: their log lines are written once.
        live: {
          add(c) {
            doorLog(
              "debug",
              "connection authenticated",
              connectionLogFields(c.remote, c.principal),
            );
            sessions.add(c, d.name);
          },
          delete(c) {
            const was = sessions.delete(c);
            if (was) {
              doorLog("debug", "connection closed", connectionLogFields(c.remote, c.principal));
            }
            return was;
          },
        },
      });
      if (running) doors.set(d.name, running);
    }
    if (config.metricsBind) {
      metricsListener = serveMetrics(
        config.metricsBind,
        config.origins.metricsBind,
        metrics,
        admissionOf("metrics"),
        httpLimits,
      );
    }
  } catch (e) {
    await closeDoors();
    throw e;
  }
  const endpoints = Object.fromEntries(
    [...doors].flatMap(([name, d]) => Object.entries(d.endpoints ?? { [name]: d.url })),
  );
  if (metricsListener) endpoints.metrics = metricsListener.url;
  if (nodeChannels) await nodeChannels.advertise(advertisedUrls(config, endpoints));
  const server: RunningServer = {
    endpoints,
    broker,
    async close(reason = "closed") {
      const started = Date.now();
      ready = false;
      clearInterval(retentionTimer);
      clearInterval(presenceSweep);
      sessions.stop();
      // Every door's live connections hear why; the doors then stop accepting (the first one
      // in this same tick) and end what is left.
      sessions.closeAll(
        new CatbusError(ErrorCode.Shutdown, "the server is shutting down; reconnect and retry"),
      );
      admin?.close();
      await closeDoors();
      await metricsListener?.http.shutdown();
      await consumers.close();
      if (consumerRelay) consumerRelay.close();
      relay?.close();
      await streams.close();
      await roles.close();
      lock.release();
      log("info", "catbusd stopped", { reason, took_ms: Date.now() - started });
    },
  };
  log("info", "catbusd listening", {
    ...endpoints,
    data: config.data,
    pid: Deno.pid,
  });
  return server;
}
