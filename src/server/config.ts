import { parse as parseYaml } from "yaml";
import type { SettingOrigins, SettingsOf } from "../core/settings.ts";
import { configError, resolveSettings } from "../core/settings-resolve.ts";
import { alleSettings } from "../dialects/alle/settings.ts";
import { busSettings } from "../dialects/bus/settings.ts";
import { nativeSettings } from "../dialects/native/settings.ts";
import { rcpSettings } from "../dialects/rcp/settings.ts";
import { pulsarSettings } from "../dialects/pulsar/settings.ts";
import { applyStorageBackend } from "../dialects/pulsar/storage-backend.ts";
import { smSettings } from "../sm/settings.ts";
import { streamSettings } from "../streams/settings.ts";
import { engineSettings } from "../streams/valkey/settings.ts";
import { postgresEngineSettings } from "../streams/postgres/settings.ts";
import { serverSettings } from "./settings.ts";
import { opsSettings } from "./ops-settings.ts";

/** Every component's settings, in `--help` order. Each table lives in its component's folder. */
export const SETTING_GROUPS = [
  nativeSettings,
  serverSettings,
  streamSettings,
  engineSettings,
  postgresEngineSettings,
  busSettings,
  rcpSettings,
  smSettings,
  pulsarSettings,
  alleSettings,
  opsSettings,
] as const;

type Tables = typeof SETTING_GROUPS[number]["settings"];
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends
  (i: infer I) => void ? I : never;
type Flat<T> = { [K in keyof T]: T[K] };

/**
 * Everything catbusd can be told, read from the tables. Precedence: flags > environment > YAML
 * file > defaults.
 */
export type ServerConfig = Flat<UnionToIntersection<SettingsOf<Tables>>> & {
  /** Where each setting came from (`--bind`, `BUS_ADDR`, `c.yaml: bus.bind`), for errors. */
  readonly origins: SettingOrigins<keyof UnionToIntersection<Tables>>;
};

const resolve = (sources: Parameters<typeof resolveSettings>[1]) => {
  const { values, origins } = resolveSettings(SETTING_GROUPS, sources);
  return { ...values, origins } as ServerConfig;
};

export const DEFAULTS = resolve({ flags: {}, env: {} });

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
  let yaml: { path: string; doc: Record<string, unknown> } | undefined;
  if (sources.yaml) {
    let doc: unknown;
    try {
      doc = parseYaml(sources.yaml.text) ?? {};
    } catch (e) {
      throw configError(sources.yaml.path, `not valid YAML: ${(e as Error).message}`);
    }
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
      throw configError(sources.yaml.path, "must be a YAML mapping");
    }
    yaml = { path: sources.yaml.path, doc: doc as Record<string, unknown> };
  }
  // The Pulsar Relay's own names for the Valkey engine (docs/pulsar.md).
  const config = applyStorageBackend(resolve({ ...sources, yaml }));
  if (!config.cert !== !config.key) {
    const given = config.cert ? config.origins.cert : config.origins.key;
    throw configError(given, "TLS needs both a certificate and a key (--cert and --key)");
  }
  if (config.engine === "postgres" && !config.databaseUrl) {
    throw configError(
      config.origins.engine,
      "the postgres engine needs --database-url (or DATABASE_URL); create its schema with " +
        "`catbus init --database-url URL`",
    );
  }
  return config;
}
