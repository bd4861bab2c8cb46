import { Authenticator } from "../auth/authenticator.ts";
import { FileRoleStore } from "../auth/role-store-file.ts";
import { Broker } from "../core/broker.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { ReplyPermits } from "../core/replies.ts";
import { RESERVED_NAMESPACES } from "../../client/shared/subject.ts";
import { Session, type SessionHost } from "../protocol/session.ts";
import { listenTcp, type TcpListener } from "../transport/tcp.ts";
import { encodeFrame, FrameType } from "../../client/shared/frame.ts";
import { refuseWith } from "../transport/accept-loop.ts";
import { acceptReport, ConnectionLimits, type DoorName } from "./connection-limits.ts";
import { parseAddress } from "../core/address.ts";
import type { ServerConfig } from "./config.ts";
import { type DataDirLock, ensureDataDir, loadOrCreateSecret, lockDataDir } from "./data-dir.ts";
import { StreamStore } from "../streams/stream-store.ts";
import { ConsumerRegistry } from "../streams/consumer-registry.ts";
import { FileConsumerStore } from "../streams/consumer-store.ts";
import { parseFsyncPolicy } from "../log/fsync-policy.ts";
import type { BlockSize } from "../log/encryption.ts";
import { serveHttp } from "./http.ts";
import { clientBundle } from "./client-bundle.ts";
import { SseSessions } from "../transport/sse-sessions.ts";
import { WebTransportListener } from "../transport/webtransport.ts";
import {
  cannotListen,
  displayHost,
  type DoorServices,
  type RunningDoor,
} from "../dialects/door.ts";
import { DOORS } from "./doors.ts";
import type { Logger } from "../core/logger.ts";
import { createLogger } from "./log.ts";
import { SessionRegistry } from "../auth/live-connections.ts";
import { type OpenFileLimit, raiseOpenFileLimit } from "./open-files.ts";
import { NamespacePolicy } from "./namespace-policy.ts";

export const SERVER_NAME = "catbusd/0.1.0";

export interface RunningServer {
  /** Where the HTTP/WebSocket listener is, e.g. http://127.0.0.1:4433 */
  httpUrl: string;
  /** Where the TCP listener is, e.g. tcp://127.0.0.1:4434 */
  tcpUrl: string;
  /** The Bus HTTP/SSE dialect, when enabled, e.g. http://127.0.0.1:2021 */
  busUrl?: string;
  /** The state-machine database (rstmdb's RCP), when enabled, e.g. rcp://127.0.0.1:7401 */
  rcpUrl?: string;
  broker: Broker;
  /** Drains: stops accepting, /ready answers 503, sessions get a `shutdown` error, stores close. */
  close(reason?: string): Promise<void>;
}

const connectionLimit = new CatbusError(
  ErrorCode.LimitExceeded,
  "the server is at its connection limit (--max-connections, --max-connections-per-door); " +
    "retry later",
);

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

/** Starts every listener of one catbusd and returns once they accept connections. */
export async function startServer(
  config: ServerConfig,
): Promise<RunningServer> {
  const log = createLogger(config.logLevel, config.logFile);
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

async function startLocked(
  config: ServerConfig,
  log: ReturnType<typeof createLogger>,
  lock: DataDirLock,
): Promise<RunningServer> {
  const secret = config.secret ?? await loadOrCreateSecret(config.data);
  const roles = new FileRoleStore(config.data);
  const streams = new StreamStore(config.data, {
    fsync: parseFsyncPolicy(config.fsync),
    segmentBytes: config.segmentBytes,
    encryption: config.encryptionSecret
      ? {
        secret: config.encryptionSecret,
        blockSize: config.encryptionBlockSize as BlockSize,
      }
      : undefined,
  }, {
    retention: {
      maxAgeMs: config.retentionMaxAgeMs,
      maxMessages: config.retentionMaxMessages,
      maxBytes: config.retentionMaxBytes,
    },
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
  const reserved = new Set<string>(RESERVED_NAMESPACES);
  // Reply inboxes are live traffic: no point in storing them. `sm` carries copies of state
  // machine transitions whose durable record is the state-machine log (resume from memory;
  // replay after a restart through RCP WATCH). `$sys` is stored (dead letters).
  const ephemeral = new Set<string>(["_inbox", "_bus_", "sm"]);
  const broker = new Broker({
    history: {
      maxMessages: config.historyMessages,
      maxBytes: config.historyBytes,
    },
    storage: streams,
    ephemeral: (name) => ephemeral.has(name),
    // BUS_DUP_SIZE=0 turns dedupe off, as in the original.
    dedupeWindowMs: config.dedupeMaxKeys === 0 ? 0 : config.dedupeWindowMs,
    dedupeMaxKeys: config.dedupeMaxKeys,
    maxPerChannel: config.retentionMaxPerChannel,
  });
  await broker.load();
  for (const name of reserved) await broker.createNamespace(name);
  const consumers = new ConsumerRegistry(
    broker,
    new FileConsumerStore(config.data, { sync: config.fsync === "always" }),
    log,
    { maxConsumers: config.maxConsumers },
  );
  await consumers.load();
  await streams.applyRetention();
  const retentionTimer = setInterval(() => {
    streams.applyRetention().catch((e) => log("warn", "retention failed", { error: String(e) }));
  }, 60_000);

  const limits = new ConnectionLimits(config.maxConnections, config.maxConnectionsPerDoor, log);
  const door = (name: DoorName) => ({ admit: limits.door(name), report: acceptReport(log, name) });
  const namespaces = new NamespacePolicy(config.data, config.namespaces);
  const sessions = new SessionRegistry();
  /** Native connections open now, authenticated or not (for --max-connections). */
  let connections = 0;
  sessions.watchRoles(roles);
  sessions.startSweeping(
    Math.min(config.heartbeatMs, 1000),
    config.heartbeatMs,
    config.slowConsumerTimeoutMs,
  );
  const host: SessionHost = {
    broker,
    consumers,
    replies: new ReplyPermits({ windowMs: config.replyWindowMs, max: config.maxReplyPermits }),
    authenticator: new Authenticator({
      adminKey: config.adminKey,
      secrets: [secret, ...config.previousSecrets],
      roles,
    }),
    limits: {
      maxPayload: config.maxPayload,
      maxSubscriptions: config.maxSubscriptions,
      maxPublishRate: config.maxPublishRate,
      helloTimeoutMs: config.helloTimeoutMs,
      outboundBytes: config.outboundBytes,
      heartbeatMs: config.heartbeatMs,
      maxJsonDepth: config.maxJsonDepth,
    },
    serverName: SERVER_NAME,
    checkNamespace: (name) => namespaces.check(name),
    admit: () => {
      if (connections >= config.maxConnections) return false;
      connections++;
      return true;
    },
    attach: (s) => sessions.add(s),
    detach: (s, admitted) => {
      if (admitted) connections--;
      sessions.delete(s);
    },
    log,
  };
  const newSession = (t: ConstructorParameters<typeof Session>[1]) => new Session(host, t);

  const tls = config.cert && config.key
    ? {
      cert: await readPem(config.cert, "certificate", config.origins.cert),
      key: await readPem(config.key, "key", config.origins.key),
    }
    : undefined;
  const httpAddr = parseAddress(config.bind, config.origins.bind)!;
  const tcpAddr = parseAddress(config.tcpBind, config.origins.tcpBind)!;
  let ready = true;
  const sse = new SseSessions({
    replayBytes: config.outboundBytes,
    graceMs: 15_000,
    keepAliveMs: config.heartbeatMs,
    maxBodyBytes: 4 * (config.maxPayload + 64 * 1024),
  }, newSession);
  let webtransport: WebTransportListener | undefined;
  let http: ReturnType<typeof serveHttp>;
  try {
    http = serveHttp({ ...httpAddr, ...tls, ...door("http") }, {
      isReady: () => ready,
      newSession,
      sse,
      certificateHash: () => webtransport?.certificateHash,
      clientBundle,
    });
  } catch (e) {
    throw cannotListen(config.bind, config.origins.bind, e);
  }
  let tcp: TcpListener;
  try {
    tcp = await listenTcp({ ...tcpAddr, tls }, newSession, {
      ...door("tcp"),
      // Told why, without reading from it.
      refuse: (t) =>
        refuseWith(
          () => t.write(encodeFrame(FrameType.Error, 0, connectionLimit.toJSON())),
          () => t.close(),
        ),
    });
  } catch (e) {
    await http.shutdown();
    throw cannotListen(config.tcpBind, config.origins.tcpBind, e);
  }
  const tcpPort = tcp.port;
  if (config.webtransport) {
    try {
      webtransport = await WebTransportListener.start({
        hostname: httpAddr.hostname,
        port: http.port,
        ...tls,
        ...door("webtransport"),
        idleTimeoutMs: config.webtransportIdleTimeoutMs,
        names: ["0.0.0.0", "::"].includes(httpAddr.hostname) ? [] : [httpAddr.hostname],
        onRotate: (hash) => log("info", "webtransport certificate rotated", { hash: hash.value }),
      }, newSession);
    } catch (e) {
      // Clients fall back to WebSocket; say why WebTransport is missing.
      log("warn", "webtransport is off", { error: (e as Error).message });
    }
  }
  const services: Omit<DoorServices, "admission"> = {
    broker,
    consumers,
    authenticator: host.authenticator,
    replies: host.replies,
    live: sessions,
    checkNamespace: host.checkNamespace,
    log,
    ...(tls ? { tls } : {}),
  };
  /** The registered doors that are on, by name. */
  const doors = new Map<string, RunningDoor>();
  const closeDoors = async () => {
    for (const d of doors.values()) await d.close();
  };
  try {
    for (const d of DOORS) {
      const running = await d.start(config, { ...services, admission: door(d.name) });
      if (running) doors.set(d.name, running);
    }
  } catch (e) {
    await closeDoors();
    tcp.close();
    webtransport?.close();
    await http.shutdown();
    throw e;
  }
  const scheme = tls ? "s" : "";
  const busUrl = doors.get("bus")?.url;
  const rcpUrl = doors.get("rcp")?.url;
  const server: RunningServer = {
    httpUrl: `http${scheme}://${displayHost(httpAddr.hostname)}:${http.port}`,
    tcpUrl: `tcp${scheme}://${displayHost(tcpAddr.hostname)}:${tcpPort}`,
    ...(busUrl ? { busUrl } : {}),
    ...(rcpUrl ? { rcpUrl } : {}),
    broker,
    async close(reason = "closed") {
      const started = Date.now();
      ready = false;
      clearInterval(retentionTimer);
      sessions.stop();
      tcp.close();
      sessions.closeAll(
        new CatbusError(ErrorCode.Shutdown, "the server is shutting down; reconnect and retry"),
      );
      sse.closeAll();
      await http.shutdown();
      webtransport?.close();
      await closeDoors();
      await consumers.close();
      await streams.close();
      lock.release();
      log("info", "catbusd stopped", { reason, took_ms: Date.now() - started });
    },
  };
  log("info", "catbusd listening", {
    http: server.httpUrl,
    websocket: server.httpUrl.replace(/^http/, "ws") + "/ws",
    tcp: server.tcpUrl,
    ...(webtransport
      ? {
        webtransport: `https://${displayHost(httpAddr.hostname)}:${webtransport.port}/catbus`,
        ...(webtransport.certificateHash ? { cert_hash: webtransport.certificateHash.value } : {}),
      }
      : {}),
    ...Object.fromEntries([...doors].map(([name, d]) => [name, d.url])),
    data: config.data,
    pid: Deno.pid,
  });
  return server;
}
