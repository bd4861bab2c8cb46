import {
  address,
  bool,
  count,
  duration,
  list,
  seconds,
  settingsGroup,
  text,
} from "../../core/settings.ts";

/** The RCP door: rstmdb's YAML keys and RSTMDB_* names (docs/state-machines.md). */
export const rcpSettings = settingsGroup({
  title: "State-machine database: the RCP door",
  settings: {
    rcpBind: {
      flag: "rcp-bind",
      env: "RSTMDB_BIND",
      yaml: "network.bind_addr",
      kind: address,
      help:
        "serve the state-machine database (rstmdb's RCP) here, e.g. 127.0.0.1:7401; off when unset",
    },
    rcpMaxConnections: {
      flag: "rcp-max-connections",
      env: "RSTMDB_MAX_CONNECTIONS",
      yaml: "network.max_connections",
      kind: count,
      default: 1000,
      help: "RCP connections at once",
    },
    rcpHelloTimeoutMs: {
      flag: "rcp-hello-timeout",
      yaml: "network.hello_timeout",
      kind: duration,
      default: 10_000,
      help: "an RCP connection that sends no request this long after it opened is closed " +
        "(HELLO is optional, as in rstmdb)",
    },
    rcpIdleTimeoutMs: {
      flag: "rcp-idle-timeout",
      yaml: "network.idle_timeout",
      aliases: [{ env: "RSTMDB_IDLE_TIMEOUT", yaml: "network.idle_timeout_secs", kind: seconds }],
      kind: duration,
      default: 300_000,
      help: "an RCP connection with no bytes either way this long is closed (rstmdb: seconds)",
    },
    rcpAuthRequired: {
      flag: "rcp-auth-required",
      env: "RSTMDB_AUTH_REQUIRED",
      yaml: "auth.required",
      kind: bool,
      default: false,
      help: "RCP clients must AUTH with a bearer token",
    },
    rcpAuthMaxFailures: {
      flag: "rcp-auth-max-failures",
      yaml: "auth.max_failures",
      kind: count,
      default: 10,
      help: "failed RCP AUTH attempts allowed per connection (then it is closed) and per client " +
        "address per minute (then AUTH answers RATE_LIMITED)",
    },
    rcpTokenHashes: {
      flag: "rcp-token-hashes",
      secret: true,
      env: "RSTMDB_AUTH_TOKEN_HASH",
      yaml: "auth.token_hashes",
      kind: list,
      default: [],
      help: "SHA-256 hashes of accepted RCP tokens (`catbus sm hash-token TOKEN`)",
    },
    rcpSecretsFile: {
      flag: "rcp-secrets-file",
      env: "RSTMDB_AUTH_SECRETS_FILE",
      yaml: "auth.secrets_file",
      kind: text,
      help: "file of RCP token hashes, one per line",
    },
    rcpTls: {
      flag: "rcp-tls",
      env: "RSTMDB_TLS_ENABLED",
      yaml: "tls.enabled",
      kind: bool,
      help: "RCP over TLS (default: when --rcp-tls-cert is given)",
    },
    rcpTlsCert: {
      flag: "rcp-tls-cert",
      env: "RSTMDB_TLS_CERT",
      yaml: "tls.cert_path",
      kind: text,
      help: "RCP TLS certificate (PEM)",
    },
    rcpTlsKey: {
      flag: "rcp-tls-key",
      env: "RSTMDB_TLS_KEY",
      yaml: "tls.key_path",
      kind: text,
      help: "RCP TLS private key (PEM)",
    },
    rcpRequireClientCert: {
      flag: "rcp-require-client-cert",
      env: "RSTMDB_TLS_REQUIRE_CLIENT_CERT",
      yaml: "tls.require_client_cert",
      kind: bool,
      default: false,
      help: "mTLS: RCP clients need a certificate signed by --rcp-client-ca (X.509 v3)",
    },
    rcpClientCa: {
      flag: "rcp-client-ca",
      env: "RSTMDB_TLS_CLIENT_CA",
      yaml: "tls.client_ca_path",
      kind: text,
      help: "CA (PEM) that signs RCP client certificates",
    },
  },
});
