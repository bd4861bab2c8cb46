import type { PulsarStoreWhere } from "./store-open.ts";
import {
  address,
  count,
  duration,
  oneOf,
  seconds,
  type SettingOrigins,
  settingsGroup,
  type SettingsOf,
  text,
} from "../../core/settings.ts";

/** The Pulsar Relay door: the original's PULSAR_* names where they mean the same (docs/pulsar.md). */
export const pulsarSettings = settingsGroup({
  title: "Pulsar Relay dialect",
  settings: {
    pulsarBind: {
      flag: "pulsar-bind",
      env: "CATBUS_PULSAR_BIND",
      yaml: "pulsar.bind",
      kind: address,
      help: "serve the Pulsar Relay REST/WebSocket/long-poll API here (the original's port is " +
        ":8080); off when unset",
    },
    pulsarJwtSecret: {
      flag: "pulsar-jwt-secret",
      env: "PULSAR_JWT_SECRET_KEY",
      yaml: "pulsar.jwt_secret_key",
      kind: text,
      help: "HS256 key for the door's access tokens, at least 32 characters (required with " +
        "--pulsar-bind)",
    },
    pulsarTokenLifetimeMs: {
      flag: "pulsar-token-lifetime",
      env: "PULSAR_ACCESS_TOKEN_EXPIRE_SECONDS",
      yaml: "pulsar.access_token_expire",
      kind: seconds,
      default: 3_600_000,
      help: "lifetime of an access token (seconds, or a duration such as 1h)",
    },
    pulsarRefreshLifetimeMs: {
      flag: "pulsar-refresh-lifetime",
      env: "PULSAR_REFRESH_TOKEN_EXPIRE_SECONDS",
      yaml: "pulsar.refresh_token_expire",
      kind: seconds,
      default: 30 * 86_400_000,
      help: "lifetime of a refresh token (seconds, or a duration such as 30d)",
    },
    pulsarBootstrapAdminUsername: {
      flag: "pulsar-bootstrap-admin-username",
      env: "PULSAR_BOOTSTRAP_ADMIN_USERNAME",
      yaml: "pulsar.bootstrap_admin_username",
      kind: text,
      help: "create this admin user at start when it does not exist (with the password below)",
    },
    pulsarBootstrapAdminPassword: {
      flag: "pulsar-bootstrap-admin-password",
      env: "PULSAR_BOOTSTRAP_ADMIN_PASSWORD",
      yaml: "pulsar.bootstrap_admin_password",
      kind: text,
      help: "the bootstrap admin's password (at least 8 characters)",
    },
    pulsarBootstrapAdminEmail: {
      flag: "pulsar-bootstrap-admin-email",
      env: "PULSAR_BOOTSTRAP_ADMIN_EMAIL",
      yaml: "pulsar.bootstrap_admin_email",
      kind: text,
      help: "the bootstrap admin's email (default: USERNAME@example.com)",
    },
    pulsarIdempotencyWindowMs: {
      flag: "pulsar-idempotency-window",
      yaml: "pulsar.idempotency_window",
      kind: duration,
      default: 600_000,
      help: "how long a publish's Idempotency-Key answers with the first response",
    },
    pulsarIdempotencyMaxKeys: {
      flag: "pulsar-idempotency-max-keys",
      yaml: "pulsar.idempotency_max_keys",
      kind: count,
      default: 100_000,
      help: "Idempotency-Keys remembered at once (the oldest go first)",
    },
    pulsarMaxBodyBytes: {
      flag: "pulsar-max-body",
      env: "PULSAR_MAX_BODY_BYTES",
      yaml: "pulsar.max_body_bytes",
      kind: count,
      default: 1024 * 1024,
      help: "largest request body in bytes (413 above it)",
    },
    pulsarMaxPollWaitersPerUser: {
      flag: "pulsar-max-poll-waiters",
      yaml: "pulsar.max_poll_waiters_per_user",
      kind: count,
      default: 50,
      help: "long-polls one user may hold open at once (429 above it)",
    },
    pulsarMaxWebSocketsPerUser: {
      flag: "pulsar-max-websockets",
      env: "PULSAR_WS_MAX_PER_USER",
      yaml: "pulsar.ws_max_per_user",
      kind: count,
      default: 100,
      help: "WebSockets one user may hold open at once (closed 1008 above it)",
    },
    pulsarLoginFailuresPerMinute: {
      flag: "pulsar-login-failures",
      yaml: "pulsar.login_failures_per_minute",
      kind: count,
      default: 20,
      help: "failed logins per username per minute before 429 (slows password guessing)",
    },
    pulsarStorageBackend: {
      flag: "pulsar-storage-backend",
      env: "PULSAR_STORAGE_BACKEND",
      yaml: "pulsar.storage_backend",
      kind: oneOf(["memory", "local", "valkey"] as const),
      help: "valkey: run the server on the Valkey engine (--engine valkey, its server from " +
        "PULSAR_VALKEY_*); memory or local: the local log (the original's memory backend kept " +
        "nothing; here messages are on the log)",
    },
    pulsarValkeyHost: {
      flag: "pulsar-valkey-host",
      env: "PULSAR_VALKEY_HOST",
      yaml: "valkey.host",
      kind: text,
      help: "the original's Valkey host: with PULSAR_STORAGE_BACKEND=valkey it makes --valkey-url",
    },
    pulsarValkeyPort: {
      flag: "pulsar-valkey-port",
      env: "PULSAR_VALKEY_PORT",
      yaml: "valkey.port",
      kind: count,
      help: "the original's Valkey port (default 6379)",
    },
    pulsarValkeyPassword: {
      flag: "pulsar-valkey-password",
      env: "PULSAR_VALKEY_PASSWORD",
      yaml: "valkey.password",
      kind: text,
      help: "the original's Valkey password (none when unset)",
    },
    pulsarValkeyDb: {
      flag: "pulsar-valkey-db",
      env: "PULSAR_VALKEY_DB",
      yaml: "valkey.db",
      kind: count,
      allowZero: true,
      help: "the original's Valkey database number (default 0)",
    },
    pulsarPersistentTierRetentionMs: {
      flag: "pulsar-persistent-tier-retention",
      env: "PULSAR_PERSISTENT_TIER_RETENTION",
      yaml: "storage.persistent_tier_retention",
      kind: seconds,
      allowZero: true,
      default: 86_400_000,
      help: "how long a topic's message is delivered and replayed, at most (a shorter ttl " +
        "wins; seconds, or a duration such as 24h; 0 = until the server's retention drops it)",
    },
    pulsarMaxMessagesPerTopic: {
      flag: "pulsar-max-messages-per-topic",
      env: "PULSAR_MAX_MESSAGES_PER_TOPIC",
      yaml: "storage.max_messages_per_topic",
      kind: count,
      allowZero: true,
      default: 1_000_000,
      help: "messages a topic keeps, its newest (older ones are deleted as it grows, in steps of " +
        "1%; 0 = no limit)",
    },
    pulsarRateLimitPerClient: {
      flag: "pulsar-rate-limit-per-client",
      env: "PULSAR_RATE_LIMIT_PER_CLIENT",
      yaml: "pulsar.rate_limit_per_client",
      kind: count,
      allowZero: true,
      default: 0,
      help: "messages one user may publish per minute, bursts of a minute's worth allowed (429 " +
        "above it; 0 = no limit)",
    },
    pulsarRateLimitPerIp: {
      flag: "pulsar-rate-limit-per-ip",
      env: "PULSAR_RATE_LIMIT_PER_IP",
      yaml: "pulsar.rate_limit_per_ip",
      kind: count,
      allowZero: true,
      default: 0,
      help: "requests one client IP may make per minute, /health and /ready aside (429 above " +
        "it; 0 = no limit)",
    },
  },
});

/** The server settings the Pulsar door reads: its own table, the data directory, shared limits. */
export type PulsarDoorSettings = SettingsOf<typeof pulsarSettings.settings> & PulsarStoreWhere & {
  maxPayload: number;
  /** A WebSocket that sends no subscribe this long after it opened is closed. */
  helloTimeoutMs: number;
  maxJsonDepth: number;
  outboundBytes: number;
  origins: SettingOrigins<keyof typeof pulsarSettings.settings>;
};
