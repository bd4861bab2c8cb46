import { bool, duration, list, oneOf, settingsGroup, text } from "../../core/settings.ts";

export const ENGINES = ["local", "valkey", "postgres"] as const;

/** Which stream engine holds the namespaces' streams, and how to reach a shared one. */
export const engineSettings = settingsGroup({
  title: "Stream engine (one node, or several on Valkey or PostgreSQL)",
  settings: {
    engine: {
      flag: "engine",
      env: "CATBUS_ENGINE",
      yaml: "engine",
      kind: oneOf(ENGINES),
      default: "local",
      help: "local (the log in DATA), or valkey or postgres (--database-url): one set of " +
        "streams shared by several nodes",
    },
    valkeyUrl: {
      flag: "valkey-url",
      env: "CATBUS_VALKEY_URL",
      envAliases: ["VALKEY_URL"],
      yaml: "valkey.url",
      kind: text,
      default: "redis://127.0.0.1:6379",
      help: "Valkey or Redis server of --engine valkey (redis:// or rediss://, password in it)",
    },
    valkeyCluster: {
      flag: "valkey-cluster",
      env: "CATBUS_VALKEY_CLUSTER",
      yaml: "valkey.cluster",
      kind: bool,
      default: false,
      help: "--valkey-url is a node of a Redis Cluster (the others are discovered)",
    },
    valkeyPrefix: {
      flag: "valkey-prefix",
      env: "CATBUS_VALKEY_PREFIX",
      yaml: "valkey.prefix",
      kind: text,
      default: "catbus:",
      help: "starts every key and channel: clusters with other prefixes share the server",
    },
    valkeyCheckIntervalMs: {
      flag: "valkey-check-interval",
      env: "CATBUS_VALKEY_CHECK_INTERVAL",
      yaml: "valkey.check_interval",
      kind: duration,
      default: 1_000,
      help: "how often each namespace's top is compared with what this node saw (a stalled " +
        "live channel is read back from the stream)",
    },
    advertiseUrls: {
      flag: "advertise-url",
      env: "CATBUS_ADVERTISE_URL",
      yaml: "cluster.advertise_urls",
      kind: list,
      default: [],
      help: "with a shared engine: the URLs clients reach this node at (comma-separated), " +
        "listed in the welcome's nodes (default: its WebSocket URL as it listens)",
    },
    nodeTtlMs: {
      flag: "node-ttl",
      env: "CATBUS_NODE_TTL",
      yaml: "cluster.node_ttl",
      kind: duration,
      default: 5_000,
      help: "with a shared engine: a node that stops renewing its listing (URLs, what its " +
        "clients subscribe to, its consumer members) is dropped by the others after this long; " +
        "also how long an ack waits for the node running its consumer",
    },
    valkeyConsumerLeaseMs: {
      flag: "valkey-consumer-lease",
      env: "CATBUS_VALKEY_CONSUMER_LEASE",
      yaml: "valkey.consumer_lease",
      kind: duration,
      default: 5_000,
      help: "a durable consumer runs on the node holding its lease; a dead holder's lease " +
        "moves to a node with members after this long (renewed every third of it)",
    },
  },
});
