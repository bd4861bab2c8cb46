import {
  bool,
  checked,
  count,
  duration,
  megabytes,
  settingsGroup,
  text,
} from "../core/settings.ts";
import { parseSmFsyncPolicy, smFsyncText } from "./fsync.ts";

const smFsyncPolicy = checked(
  "every_write, every_ms:N, every_n:N or never",
  parseSmFsyncPolicy,
  smFsyncText,
);

/** The state-machine engine: rstmdb's YAML keys and RSTMDB_* names (docs/state-machines.md). */
export const smSettings = settingsGroup({
  title: "State-machine database: storage",
  settings: {
    smData: {
      flag: "sm-data",
      env: "RSTMDB_DATA",
      yaml: "storage.data_dir",
      kind: text,
      help: "state-machine WAL and snapshots (default DATA/sm)",
    },
    smFsync: {
      flag: "sm-fsync",
      env: "RSTMDB_FSYNC_POLICY",
      yaml: "storage.fsync_policy",
      kind: smFsyncPolicy,
      default: "every_write",
      help: "state-machine WAL: every_write (group commit), every_ms:N, every_n:N or never",
    },
    smSegmentBytes: {
      flag: "sm-segment-mb",
      env: "RSTMDB_WAL_SEGMENT_SIZE_MB",
      yaml: "storage.wal_segment_size_mb",
      kind: megabytes,
      default: 64 * 1024 * 1024,
      help: "state-machine WAL segment size in MiB",
    },
    smCompaction: {
      flag: "sm-compaction",
      env: "RSTMDB_COMPACT_ENABLED",
      yaml: "compaction.enabled",
      kind: bool,
      default: true,
      help: "snapshot and compact the state-machine WAL automatically (default true)",
    },
    smCompactEvents: {
      flag: "sm-compact-events",
      env: "RSTMDB_COMPACT_EVENTS",
      yaml: "compaction.events_threshold",
      kind: count,
      default: 10_000,
      allowZero: true,
      help: "compact after this many WAL entries (0 = never by count)",
    },
    smCompactSizeBytes: {
      flag: "sm-compact-size-mb",
      env: "RSTMDB_COMPACT_SIZE_MB",
      yaml: "compaction.size_threshold_mb",
      kind: megabytes,
      default: 100 * 1024 * 1024,
      allowZero: true,
      help: "compact when the WAL grew by this many MiB (0 = never by size, as in rstmdb)",
    },
    smMaxMachineVersions: {
      flag: "sm-max-machine-versions",
      env: "RSTMDB_MAX_MACHINE_VERSIONS",
      yaml: "storage.max_machine_versions",
      aliases: [{ yaml: "limits.max_machine_versions" }],
      kind: count,
      default: 0,
      allowZero: true,
      help: "versions allowed per machine (0 = no limit)",
    },
    smIdempotencyWindowMs: {
      flag: "sm-idempotency-window",
      yaml: "limits.idempotency_window",
      kind: duration,
      default: 24 * 3_600_000,
      help: "how long idempotency keys are remembered (default 24h)",
    },
    smAllowFlushAll: {
      flag: "sm-allow-flush-all",
      env: "RSTMDB_ALLOW_FLUSH_ALL",
      yaml: "storage.allow_flush_all",
      kind: bool,
      default: false,
      help: "allow FLUSH_ALL, which deletes every machine and instance (default false)",
    },
  },
  // A real rstmdb file still starts catbusd, with one warning naming these.
  ignoredYaml: {
    system: "rstmdb",
    keys: [
      "storage.allow_instance_recreate",
      "compaction.min_interval_secs",
      // rstmdb's own metrics listener; `metrics.enabled` is catbusd's (/metrics on --bind).
      "metrics.bind_addr",
      "replication",
    ],
  },
});
