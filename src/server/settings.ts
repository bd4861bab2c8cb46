import { DEFAULT_MAX_JSON_DEPTH } from "../core/json-depth.ts";
import {
  bool,
  count,
  duration,
  list,
  oneOf,
  type SettingKind,
  settingsGroup,
  size,
  text,
} from "../core/settings.ts";
import { LOG_LEVELS } from "../core/logger.ts";
import { type NamespaceSettings, parseNamespaceSettings } from "./namespace-policy.ts";

const levels = oneOf(LOG_LEVELS);
const logLevel: typeof levels = {
  ...levels,
  parse: (raw, source) => levels.parse(typeof raw === "string" ? raw.toLowerCase() : raw, source),
};

/** Declared namespaces: a list of names, or (YAML) a mapping of names to their settings. */
const namespaceList: SettingKind<NamespaceSettings[]> = {
  expected: "a list of namespaces, or a mapping of namespaces to their settings",
  parse: parseNamespaceSettings,
};

/** TLS, auth, the process, and per-connection limits (shared by the doors). */
export const serverSettings = settingsGroup({
  title: "TLS, auth and limits",
  settings: {
    cert: {
      flag: "cert",
      env: "CATBUS_CERT",
      yaml: "tls.cert",
      kind: text,
      help: "TLS certificate (PEM) for every listener",
    },
    key: {
      flag: "key",
      env: "CATBUS_KEY",
      yaml: "tls.key",
      kind: text,
      help: "TLS private key (PEM)",
    },
    secret: {
      flag: "secret",
      secret: true,
      env: "CATBUS_SECRET",
      yaml: "auth.secret",
      kind: text,
      help: "sub- token (HS256 JWT) signing secret (default: DATA/secret, created on first start)",
    },
    previousSecrets: {
      flag: "previous-secrets",
      secret: true,
      env: "CATBUS_PREVIOUS_SECRETS",
      yaml: "auth.previous_secrets",
      kind: list,
      default: [],
      help: "comma-separated older secrets still accepted (rotation)",
    },
    jwtPublicKey: {
      flag: "jwt-public-key",
      env: "CATBUS_JWT_PUBLIC_KEY",
      yaml: "auth.jwt_public_key",
      kind: text,
      help: "PEM public key file (SPKI) verifying RS256, ES256 or EdDSA sub- tokens",
    },
    jwksUrl: {
      flag: "jwks-url",
      env: "CATBUS_JWKS_URL",
      yaml: "auth.jwks_url",
      kind: text,
      help: "JWKS URL verifying RS256, ES256 or EdDSA sub- tokens (keys picked by kid)",
    },
    jwtAudience: {
      flag: "jwt-audience",
      env: "CATBUS_JWT_AUDIENCE",
      yaml: "auth.jwt_audience",
      kind: text,
      help: "sub- tokens must carry this aud claim",
    },
    jwtIssuer: {
      flag: "jwt-issuer",
      env: "CATBUS_JWT_ISSUER",
      yaml: "auth.jwt_issuer",
      kind: text,
      help: "sub- tokens must carry this iss claim",
    },
    adminKey: {
      flag: "admin-key",
      secret: true,
      env: "CATBUS_ADMIN_KEY",
      yaml: "auth.admin_key",
      kind: text,
      help: "key with full access",
    },
    databaseUrl: {
      flag: "database-url",
      env: "CATBUS_DATABASE_URL",
      envAliases: ["DATABASE_URL"],
      yaml: "auth.database_url",
      kind: text,
      help:
        "keep role- tokens in this PostgreSQL database (create its schema with `catbus init`); " +
        "default: DATA/roles.json",
    },
    rolePollMs: {
      flag: "role-poll-interval",
      env: "CATBUS_ROLE_POLL_INTERVAL",
      yaml: "auth.role_poll_interval",
      kind: duration,
      default: 1000,
      help: "with --database-url: how often the role change counter is read, behind the NOTIFY " +
        "doorbell",
    },
    data: {
      flag: "data",
      env: "CATBUS_DATA",
      envAliases: ["BUS_PATH"],
      yaml: "data",
      kind: text,
      default: ".catbus",
      help: "data directory",
    },
    logLevel: {
      flag: "log-level",
      env: "CATBUS_LOG_LEVEL",
      envAliases: ["BUS_LOG_LEVEL"],
      yaml: "log_level",
      kind: logLevel,
      default: "info",
      help: "debug, info, warn or error (any case, as BUS_LOG_LEVEL=INFO)",
    },
    logFile: {
      flag: "log-file",
      env: "CATBUS_LOG_FILE",
      yaml: "log_file",
      kind: text,
      help: "append logs to this file instead of stderr (with -d: DATA/catbusd.log)",
    },
    daemon: {
      flag: "daemon",
      short: "d",
      yaml: "daemon",
      kind: bool,
      default: false,
      help: "run in the background",
    },
    pidfile: {
      flag: "pidfile",
      env: "CATBUS_PIDFILE",
      yaml: "pidfile",
      kind: text,
      help: "pid file (with -d)",
    },
    maxPayload: {
      flag: "max-payload",
      env: "CATBUS_MAX_PAYLOAD",
      yaml: "limits.max_payload",
      kind: size,
      default: 1024 * 1024,
      help: "largest message payload",
    },
    maxSubscriptions: {
      flag: "max-subscriptions",
      env: "CATBUS_MAX_SUBSCRIPTIONS",
      yaml: "limits.max_subscriptions",
      kind: count,
      default: 1000,
      help: "subscriptions per connection",
    },
    maxConnections: {
      flag: "max-connections",
      env: "CATBUS_MAX_CONNECTIONS",
      yaml: "limits.max_connections",
      kind: count,
      default: 100_000,
      help: "connections at once over every door (HTTP requests, WebSocket, SSE, WebTransport, " +
        "TCP, Bus, RCP); also native sessions at once",
    },
    maxConnectionsPerDoor: {
      flag: "max-connections-per-door",
      env: "CATBUS_MAX_CONNECTIONS_PER_DOOR",
      yaml: "limits.max_connections_per_door",
      kind: count,
      default: 50_000,
      help: "connections at once on any one door (HTTP, WebTransport, TCP, Bus, RCP)",
    },
    maxPublishRate: {
      flag: "max-publish-rate",
      env: "CATBUS_MAX_PUBLISH_RATE",
      yaml: "limits.max_publish_rate",
      kind: count,
      default: 0,
      allowZero: true,
      help: "publishes per second per connection, bursts up to the same; 0 = no limit",
    },
    replyWindowMs: {
      flag: "reply-window",
      env: "CATBUS_REPLY_WINDOW",
      yaml: "limits.reply_window",
      kind: duration,
      default: 30_000,
      help: "how long after a request its receivers may publish the one reply to its reply_to",
    },
    maxReplyPermits: {
      flag: "max-reply-permits",
      env: "CATBUS_MAX_REPLY_PERMITS",
      yaml: "limits.max_reply_permits",
      kind: count,
      default: 100_000,
      help: "requests awaiting a reply that the server remembers at once; past it the oldest go",
    },
    helloTimeoutMs: {
      flag: "hello-timeout",
      env: "CATBUS_HELLO_TIMEOUT",
      yaml: "limits.hello_timeout",
      kind: duration,
      default: 10_000,
      help: "a connection that has not said hello by then is closed",
    },
    outboundBytes: {
      flag: "outbound-bytes",
      env: "CATBUS_OUTBOUND_BYTES",
      yaml: "limits.outbound_bytes",
      kind: size,
      default: 8 * 1024 * 1024,
      help: "per-connection outbound queue",
    },
    maxJsonDepth: {
      flag: "max-json-depth",
      env: "CATBUS_MAX_JSON_DEPTH",
      yaml: "limits.max_json_depth",
      kind: count,
      default: DEFAULT_MAX_JSON_DEPTH,
      help: "deepest nesting of arrays and objects in any JSON the server is sent (payloads, " +
        "meta, Bus events, RCP requests)",
    },
    heartbeatMs: {
      flag: "heartbeat",
      env: "CATBUS_HEARTBEAT",
      yaml: "limits.heartbeat",
      kind: duration,
      default: 15_000,
      help: "client ping interval; silent clients are dropped after 3x",
    },
    slowConsumerTimeoutMs: {
      flag: "slow-consumer-timeout",
      env: "CATBUS_SLOW_CONSUMER_TIMEOUT",
      yaml: "limits.slow_consumer_timeout",
      kind: duration,
      default: 30_000,
      help: "how long a client may stay behind before it is disconnected",
    },
    namespaces: {
      flag: "namespaces",
      env: "CATBUS_NAMESPACES",
      envAliases: ["BUS_NAMESPACES"],
      yaml: "namespaces",
      kind: namespaceList,
      default: [],
      help: "restrict to these namespaces (comma-separated; more with `catbus namespace add`); " +
        "in YAML a mapping gives each its settings (`ticks: { ephemeral: true }`)",
    },
  },
});
