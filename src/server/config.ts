import { parse as parseYaml } from "yaml";
import type { SettingsOf } from "../core/settings.ts";
import { configError, resolveSettings } from "../core/settings-resolve.ts";
import { busSettings } from "../dialects/bus/settings.ts";
import { rcpSettings } from "../sm/rcp/settings.ts";
import { smSettings } from "../sm/settings.ts";
import { streamSettings } from "../streams/settings.ts";
import { serverSettings } from "./settings.ts";

/** Every component's settings, in `--help` order. Each table lives in its component's folder. */
export const SETTING_GROUPS = [
  serverSettings,
  streamSettings,
  busSettings,
  rcpSettings,
  smSettings,
] as const;

type Tables = typeof SETTING_GROUPS[number]["settings"];
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends
  (i: infer I) => void ? I : never;
type Flat<T> = { [K in keyof T]: T[K] };

/**
 * Everything catbusd can be told, read from the tables. Precedence: flags > environment > YAML
 * file > defaults.
 */
export type ServerConfig = Flat<UnionToIntersection<SettingsOf<Tables>>>;

export const DEFAULTS = resolveSettings(SETTING_GROUPS, { flags: {}, env: {} })
  .values as ServerConfig;

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
  const { values, origins } = resolveSettings(SETTING_GROUPS, { ...sources, yaml });
  const config = values as ServerConfig;
  if (!config.cert !== !config.key) {
    const given = origins.cert ?? origins.key;
    throw configError(given, "TLS needs both a certificate and a key (--cert and --key)");
  }
  return config;
}
