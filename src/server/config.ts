import { parse as parseYaml } from "yaml";
import { CatbusError, ErrorCode } from "../core/errors.ts";
import { DEFAULT_MAX_JSON_DEPTH } from "../core/json-depth.ts";
import { LOG_LEVELS, type LogLevel } from "./log.ts";
import { parseAddress } from "../core/address.ts";
import { parseDuration, parseSize } from "../core/units.ts";
import { parseFsyncPolicy } from "../log/fsync-policy.ts";
import { parseSmFsyncPolicy, smFsyncText } from "../sm/fsync.ts";

/** Everything catbusd can be told. Precedence: flags > environment > YAML file > defaults. */
export interface ServerConfig {
  bind: string;
  tcpBind: string;
  /** WebTransport on UDP at the --bind port. */
  webtransport: boolean;
  cert?: string;
  key?: string;
  secret?: string;
  previousSecrets: string[];
  adminKey?: string;
  data: string;
  logLevel: LogLevel;
  logFile?: string;
  daemon: boolean;
  pidfile?: string;
  maxPayload: number;
  maxSubscriptions: number;
  maxConnections: number;
  maxConnectionsPerDoor: number;
  /** A WebTransport (QUIC) connection silent this long is gone. */
  webtransportIdleTimeoutMs: number;
  maxPublishRate: number;
  replyWindowMs: number;
  maxReplyPermits: number;
  helloTimeoutMs: number;
  outboundBytes: number;
  maxJsonDepth: number;
  heartbeatMs: number;
  slowConsumerTimeoutMs: number;
  historyMessages: number;
  historyBytes: number;
  fsync: string;
  segmentBytes: number;
  maxNamespaces: number;
  maxConsumers: number;
  maxOpenSegments: number;
  retentionMaxAgeMs: number;
  retentionMaxMessages: number;
  retentionMaxBytes: number;
  retentionMaxPerChannel: number;
  dedupeWindowMs: number;
  dedupeMaxKeys: number;
  encryptionSecret?: string;
  encryptionBlockSize: number;
  namespaces: string[];
  /** Bus HTTP/SSE dialect listener; off when unset. */
  busBind?: string;
  busAuth: "open" | "token";
  /** State-machine database (rstmdb's RCP protocol); off unless an address is set. */
  rcpBind?: string;
  rcpMaxConnections: number;
  rcpHelloTimeoutMs: number;
  rcpIdleTimeoutMs: number;
  rcpAuthRequired: boolean;
  rcpAuthMaxFailures: number;
  rcpTokenHashes: string[];
  rcpSecretsFile?: string;
  /** Unset: TLS whenever a certificate is given. */
  rcpTls?: boolean;
  rcpTlsCert?: string;
  rcpTlsKey?: string;
  rcpRequireClientCert: boolean;
  rcpClientCa?: string;
  smData?: string;
  smFsync: string;
  smSegmentBytes: number;
  smCompaction: boolean;
  smCompactEvents: number;
  smCompactSizeBytes: number;
  smMaxMachineVersions: number;
  smIdempotencyWindowMs: number;
  smAllowFlushAll: boolean;
}

type Kind =
  | "string"
  | "address"
  | "list"
  | "bool"
  | "size"
  | "duration"
  | "count"
  | "level"
  | "fsync"
  | "blockSize"
  | "megabytes"
  | "seconds"
  | "smFsync";

interface Setting {
  key: keyof ServerConfig;
  flag: string;
  short?: string;
  env?: string;
  /** Other environment names honoured for the same setting (e.g. the Bus seed's). */
  envAliases?: string[];
  /** Dotted path in the YAML file. */
  yaml: string;
  /** Other names for the same setting (rstmdb's, an earlier Catbus one), each in its own unit. */
  aliases?: { yaml?: string; env?: string; kind?: Kind }[];
  kind: Kind;
  /** Numbers (sizes, durations, counts) must be above 0 unless 0 means something (see help). */
  allowZero?: true;
  help: string;
}

/** The one table of settings: flags, env names, YAML keys and help all come from here. */
export const SETTINGS: Setting[] = [
  {
    key: "bind",
    flag: "bind",
    short: "b",
    env: "CATBUS_BIND",
    yaml: "bind",
    kind: "address",
    help: "HTTP + WebSocket address",
  },
  {
    key: "tcpBind",
    flag: "tcp-bind",
    env: "CATBUS_TCP_BIND",
    yaml: "tcp_bind",
    kind: "address",
    help: "raw TCP address",
  },
  {
    key: "webtransport",
    flag: "webtransport",
    env: "CATBUS_WEBTRANSPORT",
    yaml: "webtransport",
    kind: "bool",
    help: "WebTransport on UDP at the --bind port (on; --no-webtransport turns it off)",
  },
  {
    key: "cert",
    flag: "cert",
    env: "CATBUS_CERT",
    yaml: "tls.cert",
    kind: "string",
    help: "TLS certificate (PEM) for both listeners",
  },
  {
    key: "key",
    flag: "key",
    env: "CATBUS_KEY",
    yaml: "tls.key",
    kind: "string",
    help: "TLS private key (PEM)",
  },
  {
    key: "secret",
    flag: "secret",
    env: "CATBUS_SECRET",
    yaml: "auth.secret",
    kind: "string",
    help: "sub- token signing secret (default: DATA/secret, created on first start)",
  },
  {
    key: "previousSecrets",
    flag: "previous-secrets",
    env: "CATBUS_PREVIOUS_SECRETS",
    yaml: "auth.previous_secrets",
    kind: "list",
    help: "comma-separated older secrets still accepted (rotation)",
  },
  {
    key: "adminKey",
    flag: "admin-key",
    env: "CATBUS_ADMIN_KEY",
    yaml: "auth.admin_key",
    kind: "string",
    help: "key with full access",
  },
  {
    key: "data",
    flag: "data",
    env: "CATBUS_DATA",
    envAliases: ["BUS_PATH"],
    yaml: "data",
    kind: "string",
    help: "data directory",
  },
  {
    key: "logLevel",
    flag: "log-level",
    env: "CATBUS_LOG_LEVEL",
    envAliases: ["BUS_LOG_LEVEL"],
    yaml: "log_level",
    kind: "level",
    help: "debug, info, warn or error (any case, as BUS_LOG_LEVEL=INFO)",
  },
  {
    key: "logFile",
    flag: "log-file",
    env: "CATBUS_LOG_FILE",
    yaml: "log_file",
    kind: "string",
    help: "append logs to this file instead of stderr (with -d: DATA/catbusd.log)",
  },
  {
    key: "daemon",
    flag: "daemon",
    short: "d",
    yaml: "daemon",
    kind: "bool",
    help: "run in the background",
  },
  {
    key: "pidfile",
    flag: "pidfile",
    env: "CATBUS_PIDFILE",
    yaml: "pidfile",
    kind: "string",
    help: "pid file (with -d)",
  },
  {
    key: "maxPayload",
    flag: "max-payload",
    env: "CATBUS_MAX_PAYLOAD",
    yaml: "limits.max_payload",
    kind: "size",
    help: "largest message payload",
  },
  {
    key: "maxSubscriptions",
    flag: "max-subscriptions",
    env: "CATBUS_MAX_SUBSCRIPTIONS",
    yaml: "limits.max_subscriptions",
    kind: "count",
    help: "subscriptions per connection",
  },
  {
    key: "maxConnections",
    flag: "max-connections",
    env: "CATBUS_MAX_CONNECTIONS",
    yaml: "limits.max_connections",
    kind: "count",
    help: "connections at once over every door (HTTP requests, WebSocket, SSE, WebTransport, " +
      "TCP, Bus, RCP); also native sessions at once",
  },
  {
    key: "maxConnectionsPerDoor",
    flag: "max-connections-per-door",
    env: "CATBUS_MAX_CONNECTIONS_PER_DOOR",
    yaml: "limits.max_connections_per_door",
    kind: "count",
    help: "connections at once on any one door (HTTP, WebTransport, TCP, Bus, RCP)",
  },
  {
    key: "webtransportIdleTimeoutMs",
    flag: "webtransport-idle-timeout",
    env: "CATBUS_WEBTRANSPORT_IDLE_TIMEOUT",
    yaml: "limits.webtransport_idle_timeout",
    kind: "duration",
    help: "a WebTransport connection silent this long is closed (its peer is gone)",
  },
  {
    key: "maxPublishRate",
    flag: "max-publish-rate",
    env: "CATBUS_MAX_PUBLISH_RATE",
    yaml: "limits.max_publish_rate",
    kind: "count",
    allowZero: true,
    help: "publishes per second per connection, bursts up to the same; 0 = no limit",
  },
  {
    key: "replyWindowMs",
    flag: "reply-window",
    env: "CATBUS_REPLY_WINDOW",
    yaml: "limits.reply_window",
    kind: "duration",
    help: "how long after a request its receivers may publish the one reply to its reply_to",
  },
  {
    key: "maxReplyPermits",
    flag: "max-reply-permits",
    env: "CATBUS_MAX_REPLY_PERMITS",
    yaml: "limits.max_reply_permits",
    kind: "count",
    help: "requests awaiting a reply that the server remembers at once; past it the oldest go",
  },
  {
    key: "helloTimeoutMs",
    flag: "hello-timeout",
    env: "CATBUS_HELLO_TIMEOUT",
    yaml: "limits.hello_timeout",
    kind: "duration",
    help: "a connection that has not said hello by then is closed",
  },
  {
    key: "outboundBytes",
    flag: "outbound-bytes",
    env: "CATBUS_OUTBOUND_BYTES",
    yaml: "limits.outbound_bytes",
    kind: "size",
    help: "per-connection outbound queue",
  },
  {
    key: "maxJsonDepth",
    flag: "max-json-depth",
    env: "CATBUS_MAX_JSON_DEPTH",
    yaml: "limits.max_json_depth",
    kind: "count",
    help: "deepest nesting of arrays and objects in any JSON the server is sent (payloads, " +
      "meta, Bus events, RCP requests)",
  },
  {
    key: "heartbeatMs",
    flag: "heartbeat",
    env: "CATBUS_HEARTBEAT",
    yaml: "limits.heartbeat",
    kind: "duration",
    help: "client ping interval; silent clients are dropped after 3x",
  },
  {
    key: "slowConsumerTimeoutMs",
    flag: "slow-consumer-timeout",
    env: "CATBUS_SLOW_CONSUMER_TIMEOUT",
    yaml: "limits.slow_consumer_timeout",
    kind: "duration",
    help: "how long a client may stay behind before it is disconnected",
  },
  {
    key: "historyMessages",
    flag: "history-messages",
    env: "CATBUS_HISTORY_MESSAGES",
    yaml: "history.max_messages",
    kind: "count",
    allowZero: true,
    help: "messages kept per namespace for resume (0 = none)",
  },
  {
    key: "historyBytes",
    flag: "history-bytes",
    env: "CATBUS_HISTORY_BYTES",
    yaml: "history.max_bytes",
    kind: "size",
    help: "bytes kept per namespace for resume",
  },
  {
    key: "fsync",
    flag: "fsync",
    env: "CATBUS_FSYNC",
    yaml: "storage.fsync",
    kind: "fsync",
    help: "always (group commit), interval:MS, every:N or never",
  },
  {
    key: "segmentBytes",
    flag: "segment-bytes",
    env: "CATBUS_SEGMENT_BYTES",
    yaml: "storage.segment_bytes",
    kind: "size",
    help: "log segment file size",
  },
  {
    key: "maxNamespaces",
    flag: "max-namespaces",
    env: "CATBUS_MAX_NAMESPACES",
    yaml: "limits.max_namespaces",
    kind: "count",
    allowZero: true,
    help: "stored namespaces ($sys too); one more is refused (limit_exceeded); 0 = no limit",
  },
  {
    key: "maxConsumers",
    flag: "max-consumers",
    env: "CATBUS_MAX_CONSUMERS",
    yaml: "limits.max_consumers",
    kind: "count",
    allowZero: true,
    help: "durable consumers (and Bus manual-ack subscriptions); one more is refused; 0 = no limit",
  },
  {
    key: "maxOpenSegments",
    flag: "max-open-segments",
    env: "CATBUS_MAX_OPEN_SEGMENTS",
    yaml: "storage.max_open_segments",
    kind: "count",
    allowZero: true,
    help: "log files held open over all namespaces, least recently written closed; 0 = no bound",
  },
  {
    key: "retentionMaxAgeMs",
    flag: "retention-max-age",
    env: "CATBUS_RETENTION_MAX_AGE",
    yaml: "retention.max_age",
    kind: "duration",
    allowZero: true,
    help: "messages older than this are deleted (0 = keep)",
  },
  {
    key: "retentionMaxMessages",
    flag: "retention-max-messages",
    env: "CATBUS_RETENTION_MAX_MESSAGES",
    yaml: "retention.max_messages",
    kind: "count",
    allowZero: true,
    help: "messages kept per namespace (0 = no limit)",
  },
  {
    key: "retentionMaxBytes",
    flag: "retention-max-bytes",
    env: "CATBUS_RETENTION_MAX_BYTES",
    yaml: "retention.max_bytes",
    kind: "size",
    allowZero: true,
    help: "bytes kept per namespace (0 = no limit)",
  },
  {
    key: "retentionMaxPerChannel",
    flag: "retention-max-per-channel",
    env: "CATBUS_RETENTION_MAX_PER_CHANNEL",
    yaml: "retention.max_per_channel",
    kind: "count",
    allowZero: true,
    help: "replay at most this many newest messages per channel (0 = no limit)",
  },
  {
    key: "dedupeWindowMs",
    flag: "dedupe-window",
    env: "CATBUS_DEDUPE_WINDOW",
    envAliases: ["BUS_DUP_TTL"],
    yaml: "storage.dedupe_window",
    kind: "duration",
    allowZero: true,
    help: "how long publish keys are remembered for deduplication (0 = off)",
  },
  {
    key: "dedupeMaxKeys",
    flag: "dedupe-max-keys",
    env: "CATBUS_DEDUPE_MAX_KEYS",
    envAliases: ["BUS_DUP_SIZE"],
    yaml: "storage.dedupe_max_keys",
    kind: "count",
    allowZero: true,
    help: "publish keys remembered per namespace; past it the oldest go (0 = dedupe off)",
  },
  {
    key: "encryptionSecret",
    flag: "encryption-secret",
    env: "CATBUS_ENCRYPTION_SECRET",
    envAliases: ["BUS_SECRET_KEY"],
    yaml: "storage.encryption_secret",
    kind: "string",
    help: "encrypt stored messages at rest (XSalsa20-Poly1305, key = SHA-256 of this)",
  },
  {
    key: "encryptionBlockSize",
    flag: "encryption-block-size",
    env: "CATBUS_ENCRYPTION_BLOCK_SIZE",
    envAliases: ["BUS_BLOCK_SIZE"],
    yaml: "storage.encryption_block_size",
    kind: "blockSize",
    help: "4096, 8192 or 16384",
  },
  {
    key: "namespaces",
    flag: "namespaces",
    env: "CATBUS_NAMESPACES",
    envAliases: ["BUS_NAMESPACES"],
    yaml: "namespaces",
    kind: "list",
    help: "restrict to these namespaces (comma-separated; more with `catbus namespace add`)",
  },
  {
    key: "busBind",
    flag: "bus-bind",
    env: "CATBUS_BUS_BIND",
    envAliases: ["BUS_ADDR"],
    yaml: "bus.bind",
    kind: "address",
    help: "serve the Bus HTTP/SSE API here (Bus's port is :2021); off when unset",
  },
  {
    key: "busAuth",
    flag: "bus-auth",
    env: "CATBUS_BUS_AUTH",
    yaml: "bus.auth",
    kind: "string",
    help: "open (Bus's behaviour: no token, full access) or token (every request needs one)",
  },
  // The state-machine database: rstmdb's YAML keys and RSTMDB_* names (docs/state-machines.md).
  {
    key: "rcpBind",
    flag: "rcp-bind",
    env: "RSTMDB_BIND",
    yaml: "network.bind_addr",
    kind: "address",
    help:
      "serve the state-machine database (rstmdb's RCP) here, e.g. 127.0.0.1:7401; off when unset",
  },
  {
    key: "rcpMaxConnections",
    flag: "rcp-max-connections",
    env: "RSTMDB_MAX_CONNECTIONS",
    yaml: "network.max_connections",
    kind: "count",
    help: "RCP connections at once",
  },
  {
    key: "rcpHelloTimeoutMs",
    flag: "rcp-hello-timeout",
    yaml: "network.hello_timeout",
    kind: "duration",
    help: "an RCP connection that sends no request this long after it opened is closed " +
      "(HELLO is optional, as in rstmdb)",
  },
  {
    key: "rcpIdleTimeoutMs",
    flag: "rcp-idle-timeout",
    yaml: "network.idle_timeout",
    aliases: [{ env: "RSTMDB_IDLE_TIMEOUT", yaml: "network.idle_timeout_secs", kind: "seconds" }],
    kind: "duration",
    help: "an RCP connection with no bytes either way this long is closed (rstmdb: seconds)",
  },
  {
    key: "rcpAuthRequired",
    flag: "rcp-auth-required",
    env: "RSTMDB_AUTH_REQUIRED",
    yaml: "auth.required",
    kind: "bool",
    help: "RCP clients must AUTH with a bearer token",
  },
  {
    key: "rcpAuthMaxFailures",
    flag: "rcp-auth-max-failures",
    yaml: "auth.max_failures",
    kind: "count",
    help: "failed RCP AUTH attempts allowed per connection (then it is closed) and per client " +
      "address per minute (then AUTH answers RATE_LIMITED)",
  },
  {
    key: "rcpTokenHashes",
    flag: "rcp-token-hashes",
    env: "RSTMDB_AUTH_TOKEN_HASH",
    yaml: "auth.token_hashes",
    kind: "list",
    help: "SHA-256 hashes of accepted RCP tokens (`catbus sm hash-token TOKEN`)",
  },
  {
    key: "rcpSecretsFile",
    flag: "rcp-secrets-file",
    env: "RSTMDB_AUTH_SECRETS_FILE",
    yaml: "auth.secrets_file",
    kind: "string",
    help: "file of RCP token hashes, one per line",
  },
  {
    key: "rcpTls",
    flag: "rcp-tls",
    env: "RSTMDB_TLS_ENABLED",
    yaml: "tls.enabled",
    kind: "bool",
    help: "RCP over TLS (default: when --rcp-tls-cert is given)",
  },
  {
    key: "rcpTlsCert",
    flag: "rcp-tls-cert",
    env: "RSTMDB_TLS_CERT",
    yaml: "tls.cert_path",
    kind: "string",
    help: "RCP TLS certificate (PEM)",
  },
  {
    key: "rcpTlsKey",
    flag: "rcp-tls-key",
    env: "RSTMDB_TLS_KEY",
    yaml: "tls.key_path",
    kind: "string",
    help: "RCP TLS private key (PEM)",
  },
  {
    key: "rcpRequireClientCert",
    flag: "rcp-require-client-cert",
    env: "RSTMDB_TLS_REQUIRE_CLIENT_CERT",
    yaml: "tls.require_client_cert",
    kind: "bool",
    help: "mTLS: RCP clients need a certificate signed by --rcp-client-ca (X.509 v3)",
  },
  {
    key: "rcpClientCa",
    flag: "rcp-client-ca",
    env: "RSTMDB_TLS_CLIENT_CA",
    yaml: "tls.client_ca_path",
    kind: "string",
    help: "CA (PEM) that signs RCP client certificates",
  },
  {
    key: "smData",
    flag: "sm-data",
    env: "RSTMDB_DATA",
    yaml: "storage.data_dir",
    kind: "string",
    help: "state-machine WAL and snapshots (default DATA/sm)",
  },
  {
    key: "smFsync",
    flag: "sm-fsync",
    env: "RSTMDB_FSYNC_POLICY",
    yaml: "storage.fsync_policy",
    kind: "smFsync",
    help: "state-machine WAL: every_write (group commit), every_ms:N, every_n:N or never",
  },
  {
    key: "smSegmentBytes",
    flag: "sm-segment-mb",
    env: "RSTMDB_WAL_SEGMENT_SIZE_MB",
    yaml: "storage.wal_segment_size_mb",
    kind: "megabytes",
    help: "state-machine WAL segment size in MiB",
  },
  {
    key: "smCompaction",
    flag: "sm-compaction",
    env: "RSTMDB_COMPACT_ENABLED",
    yaml: "compaction.enabled",
    kind: "bool",
    help: "snapshot and compact the state-machine WAL automatically (default true)",
  },
  {
    key: "smCompactEvents",
    flag: "sm-compact-events",
    env: "RSTMDB_COMPACT_EVENTS",
    yaml: "compaction.events_threshold",
    kind: "count",
    allowZero: true,
    help: "compact after this many WAL entries (0 = never by count)",
  },
  {
    key: "smCompactSizeBytes",
    flag: "sm-compact-size-mb",
    env: "RSTMDB_COMPACT_SIZE_MB",
    yaml: "compaction.size_threshold_mb",
    kind: "megabytes",
    allowZero: true,
    help: "compact when the WAL grew by this many MiB (0 = never by size, as in rstmdb)",
  },
  {
    key: "smMaxMachineVersions",
    flag: "sm-max-machine-versions",
    env: "RSTMDB_MAX_MACHINE_VERSIONS",
    yaml: "storage.max_machine_versions",
    aliases: [{ yaml: "limits.max_machine_versions" }],
    kind: "count",
    allowZero: true,
    help: "versions allowed per machine (0 = no limit)",
  },
  {
    key: "smIdempotencyWindowMs",
    flag: "sm-idempotency-window",
    yaml: "limits.idempotency_window",
    kind: "duration",
    help: "how long idempotency keys are remembered (default 24h)",
  },
  {
    key: "smAllowFlushAll",
    flag: "sm-allow-flush-all",
    env: "RSTMDB_ALLOW_FLUSH_ALL",
    yaml: "storage.allow_flush_all",
    kind: "bool",
    help: "allow FLUSH_ALL, which deletes every machine and instance (default false)",
  },
];

/**
 * Keys of rstmdb's configuration that Catbus does not implement: a real rstmdb file still
 * starts catbusd, with one warning naming them. A section name covers all its keys.
 */
const RSTMDB_UNIMPLEMENTED = new Set([
  "storage.allow_instance_recreate",
  "compaction.min_interval_secs",
  "metrics",
  "replication",
]);

export const DEFAULTS: ServerConfig = {
  bind: "0.0.0.0:4433",
  tcpBind: "0.0.0.0:4434",
  webtransport: true,
  previousSecrets: [],
  data: ".catbus",
  logLevel: "info",
  daemon: false,
  maxPayload: 1024 * 1024,
  maxSubscriptions: 1000,
  maxConnections: 100_000,
  maxConnectionsPerDoor: 50_000,
  webtransportIdleTimeoutMs: 30_000,
  maxPublishRate: 0,
  replyWindowMs: 30_000,
  maxReplyPermits: 100_000,
  helloTimeoutMs: 10_000,
  outboundBytes: 8 * 1024 * 1024,
  maxJsonDepth: DEFAULT_MAX_JSON_DEPTH,
  heartbeatMs: 15_000,
  slowConsumerTimeoutMs: 30_000,
  historyMessages: 10_000,
  historyBytes: 64 * 1024 * 1024,
  fsync: "always",
  segmentBytes: 64 * 1024 * 1024,
  maxNamespaces: 10_000,
  maxConsumers: 10_000,
  maxOpenSegments: 256,
  retentionMaxAgeMs: 24 * 3_600_000,
  retentionMaxMessages: 1_000_000,
  retentionMaxBytes: 0,
  retentionMaxPerChannel: 0,
  dedupeWindowMs: 120_000,
  dedupeMaxKeys: 100_000,
  encryptionBlockSize: 4096,
  namespaces: [],
  busAuth: "open",
  rcpMaxConnections: 1000,
  rcpHelloTimeoutMs: 10_000,
  rcpIdleTimeoutMs: 300_000,
  rcpAuthRequired: false,
  rcpAuthMaxFailures: 10,
  rcpTokenHashes: [],
  rcpRequireClientCert: false,
  smFsync: "every_write",
  smSegmentBytes: 64 * 1024 * 1024,
  smCompaction: true,
  smCompactEvents: 10_000,
  smCompactSizeBytes: 100 * 1024 * 1024,
  smMaxMachineVersions: 0,
  smIdempotencyWindowMs: 24 * 3_600_000,
  smAllowFlushAll: false,
};

const configError = (source: string, message: string) =>
  new CatbusError(ErrorCode.BadRequest, `${source}: ${message}`);

function convert(setting: Setting, raw: unknown, source: string, kind = setting.kind): unknown {
  const value = convertKind({ ...setting, kind }, raw, source);
  if (value === 0 && !setting.allowZero) {
    throw configError(source, "must be above 0");
  }
  return value;
}

function convertKind(setting: Setting, raw: unknown, source: string): unknown {
  const fail = (what: string) => {
    throw configError(source, `expected ${what}, got ${JSON.stringify(raw)}`);
  };
  switch (setting.kind) {
    case "string":
      return typeof raw === "string" && raw !== "" ? raw : fail("a non-empty string");
    case "address":
      return typeof raw === "string" && parseAddress(raw, source) ? raw : fail("host:port");
    case "list":
      if (Array.isArray(raw)) return raw.map(String);
      return typeof raw === "string"
        ? raw.split(",").map((s) => s.trim()).filter(Boolean)
        : fail("a list");
    case "bool":
      if (typeof raw === "boolean") return raw;
      return raw === "true" || raw === "1"
        ? true
        : raw === "false" || raw === "0"
        ? false
        : fail("true or false");
    case "size":
      return parseSize(raw) ?? fail("a size such as 1048576 or 1MiB");
    case "duration":
      return parseDuration(raw) ??
        fail("a duration such as 15000, 15s or 500ms");
    case "seconds": {
      // rstmdb's durations: a bare number is seconds.
      const bare = typeof raw === "number" ||
        (typeof raw === "string" && /^\s*\d+(\.\d+)?\s*$/.test(raw));
      return (bare ? Number(raw) * 1000 : parseDuration(raw)) ??
        fail("a number of seconds such as 300");
    }
    case "count": {
      const n = typeof raw === "string" ? Number(raw) : raw;
      return Number.isSafeInteger(n) && (n as number) >= 0 ? n : fail("a whole number");
    }
    case "fsync":
      try {
        parseFsyncPolicy(String(raw));
        return String(raw);
      } catch {
        return fail("always, interval:MS, every:N or never");
      }
    case "blockSize": {
      const n = Number(raw);
      return [4096, 8192, 16384].includes(n) ? n : fail("4096, 8192 or 16384");
    }
    case "level": {
      const level = typeof raw === "string" ? raw.toLowerCase() : raw;
      return (LOG_LEVELS as readonly unknown[]).includes(level)
        ? level
        : fail(LOG_LEVELS.join(", "));
    }
    case "megabytes": {
      const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
      // 0 passes here; convert() refuses it unless the setting allows it.
      return typeof n === "number" && Number.isFinite(n) && n >= 0
        ? Math.round(n * 1024 * 1024)
        : fail("a number of MiB such as 64 or 0.5");
    }
    case "smFsync":
      try {
        const text = smFsyncText(raw);
        parseSmFsyncPolicy(text);
        return text;
      } catch {
        return fail("every_write, every_ms:N, every_n:N or never");
      }
  }
}

/** Where a setting may come from: its own names first, then its aliases. */
const names = (s: Setting) => [
  { yaml: s.yaml, env: s.env, kind: s.kind },
  ...(s.envAliases ?? []).map((env) => ({ env, kind: s.kind, yaml: undefined })),
  ...(s.aliases ?? []).map((a) => ({ ...a, kind: a.kind ?? s.kind })),
];
const yamlPaths = (s: Setting) => names(s).flatMap((n) => n.yaml ? [n.yaml] : []);
const YAML_KEYS = new Set(SETTINGS.flatMap(yamlPaths));
/** `limits`, `auth`…: YAML mappings that hold settings. */
const YAML_SECTIONS = new Set(
  [...YAML_KEYS].flatMap((key) =>
    key.split(".").slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join("."))
  ),
);

const isMapping = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Refuses keys that are no setting (a typo would otherwise leave the default on silently);
 * collects in `ignored` the rstmdb keys that are accepted without effect.
 */
function checkYamlKeys(
  doc: Record<string, unknown>,
  source: string,
  ignored: string[],
  prefix = "",
): void {
  for (const [key, value] of Object.entries(doc)) {
    const path = prefix + key;
    if (YAML_KEYS.has(path)) continue;
    if (RSTMDB_UNIMPLEMENTED.has(path)) {
      ignored.push(path);
      continue;
    }
    if (YAML_SECTIONS.has(path)) {
      if (value === null) continue;
      if (!isMapping(value)) {
        const example = SETTINGS.find((s) => s.yaml.startsWith(path + "."))!.yaml;
        throw configError(
          source,
          `${path} must be a mapping of settings (such as ${example}), got ${
            JSON.stringify(value)
          }`,
        );
      }
      checkYamlKeys(value, source, ignored, path + ".");
      continue;
    }
    const guess = closestKey(path);
    throw configError(
      source,
      `unknown key ${path}` + (guess ? `; did you mean ${guess}?` : "") +
        " (`catbusd --help` lists the settings)",
    );
  }
}

/** The setting a mistyped or misplaced key most likely meant, if any is close. */
function closestKey(path: string): string | undefined {
  const last = path.slice(path.lastIndexOf(".") + 1);
  const moved = [...YAML_KEYS].find((k) => k.endsWith("." + last));
  if (moved) return moved;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of [...YAML_KEYS, ...YAML_SECTIONS]) {
    const d = editDistance(path, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

function yamlValue(doc: Record<string, unknown>, path: string): unknown {
  let v: unknown = doc;
  for (const part of path.split(".")) {
    if (!v || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

export interface ConfigSources {
  flags: Record<string, unknown>;
  env: Record<string, string | undefined>;
  /** Contents of the YAML file, if one was given. */
  yaml?: { path: string; text: string };
  /** Told about accepted settings that have no effect. */
  warn?: (message: string) => void;
}

/** Resolves the configuration; every bad value is reported with where it came from. */
export function resolveConfig(sources: ConfigSources): ServerConfig {
  let doc: Record<string, unknown> = {};
  if (sources.yaml) {
    try {
      doc = (parseYaml(sources.yaml.text) ?? {}) as Record<string, unknown>;
    } catch (e) {
      throw configError(
        sources.yaml.path,
        `not valid YAML: ${(e as Error).message}`,
      );
    }
    if (!isMapping(doc)) {
      throw configError(sources.yaml.path, "must be a YAML mapping");
    }
    const ignored: string[] = [];
    checkYamlKeys(doc, sources.yaml.path, ignored);
    if (ignored.length) {
      sources.warn?.(
        `${sources.yaml.path}: rstmdb settings that Catbus does not implement are ignored: ${
          ignored.join(", ")
        }`,
      );
    }
  }
  const config: Record<string, unknown> = { ...DEFAULTS };
  for (const s of SETTINGS) {
    const flag = sources.flags[s.flag];
    const env = names(s).find((n) => n.env && sources.env[n.env]);
    const yaml = names(s).find((n) => n.yaml && yamlValue(doc, n.yaml) !== undefined);
    if (flag !== undefined) config[s.key] = convert(s, flag, `--${s.flag}`);
    else if (env) config[s.key] = convert(s, sources.env[env.env!], env.env!, env.kind);
    else if (yaml) {
      const source = `${sources.yaml!.path}: ${yaml.yaml}`;
      config[s.key] = convert(s, yamlValue(doc, yaml.yaml!), source, yaml.kind);
    }
  }
  const result = config as unknown as ServerConfig;
  if (!result.cert !== !result.key) {
    throw configError("--cert/--key", "TLS needs both a certificate and a key");
  }
  if (result.busAuth !== "open" && result.busAuth !== "token") {
    throw configError(
      "--bus-auth",
      `expected open or token, got "${result.busAuth}"`,
    );
  }
  return result;
}
