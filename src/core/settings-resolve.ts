import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { Setting, SettingKind, SettingsGroup } from "./settings.ts";

export interface SettingSources {
  /** Parsed command-line flags, by flag name (without `--`). */
  flags: Record<string, unknown>;
  env: Record<string, string | undefined>;
  /** The parsed YAML file, if one was given. */
  yaml?: { path: string; doc: Record<string, unknown> };
  /** Told about accepted settings that have no effect. */
  warn?: (message: string) => void;
}

export interface ResolvedSettings {
  /** Every setting's value, by its key; settings without a default that were not given are absent. */
  values: Record<string, unknown>;
  /**
   * Where each setting came from, as a user would write it, for errors found later (a listener
   * that cannot bind): `--bind`, `BUS_ADDR`, `c.yaml: bus.bind`, `--bind (default)`.
   */
  origins: Record<string, string>;
}

export const configError = (source: string, message: string) =>
  new CatbusError(ErrorCode.BadRequest, `${source}: ${message}`);

type AnySetting = Setting<unknown>;
type Entry = [key: string, setting: AnySetting];

const entries = (groups: readonly SettingsGroup[]): Entry[] =>
  groups.flatMap((g) => Object.entries(g.settings));

/** Where a setting may come from: its own names first, then its aliases. */
const names = (s: AnySetting) => [
  { yaml: s.yaml, env: s.env, kind: s.kind },
  ...(s.envAliases ?? []).map((env) => ({ env, kind: s.kind, yaml: undefined })),
  ...(s.aliases ?? []).map((a) => ({ ...a, kind: a.kind ?? s.kind })),
];

/** Every environment name and YAML key a setting answers to (with its unit where it differs), for `--help`. */
export function settingNames(s: AnySetting): { env: string[]; yaml: string[] } {
  const named = (n: ReturnType<typeof names>[number], name: string) =>
    n.kind !== s.kind && n.kind.unit ? `${name} (${n.kind.unit})` : name;
  return {
    env: names(s).flatMap((n) => n.env ? [named(n, n.env)] : []),
    yaml: names(s).flatMap((n) => n.yaml ? [named(n, n.yaml)] : []),
  };
}

function convert(s: AnySetting, raw: unknown, source: string, kind: SettingKind<unknown>) {
  const value = kind.parse(raw, source);
  if (value === undefined) {
    throw configError(source, `expected ${kind.expected}, got ${JSON.stringify(raw)}`);
  }
  if (value === 0 && !s.allowZero) throw configError(source, "must be above 0");
  return value;
}

function yamlValue(doc: Record<string, unknown>, path: string): unknown {
  let v: unknown = doc;
  for (const part of path.split(".")) {
    if (!v || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * Resolves every setting of every group: flags > environment > YAML > defaults; every bad
 * value is reported with the flag, variable or key it came from.
 */
export function resolveSettings(
  groups: readonly SettingsGroup[],
  sources: SettingSources,
): ResolvedSettings {
  const doc = sources.yaml?.doc ?? {};
  if (sources.yaml) checkYaml(groups, sources.yaml, sources.warn);
  const values: Record<string, unknown> = {};
  const origins: Record<string, string> = {};
  for (const [key, s] of entries(groups)) {
    const flag = sources.flags[s.flag];
    const env = names(s).find((n) => n.env && sources.env[n.env]);
    const yaml = names(s).find((n) => n.yaml && yamlValue(doc, n.yaml) !== undefined);
    if (flag !== undefined) {
      origins[key] = `--${s.flag}`;
      values[key] = convert(s, flag, origins[key], s.kind);
    } else if (env) {
      origins[key] = env.env!;
      values[key] = convert(s, sources.env[env.env!], origins[key], env.kind);
    } else if (yaml) {
      origins[key] = `${sources.yaml!.path}: ${yaml.yaml}`;
      values[key] = convert(s, yamlValue(doc, yaml.yaml!), origins[key], yaml.kind);
    } else {
      origins[key] = `--${s.flag}` + (s.default === undefined ? "" : " (default)");
      if (s.default !== undefined) values[key] = s.default;
    }
  }
  return { values, origins };
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Refuses keys that are no setting (a typo would otherwise leave the default on silently), with
 * the setting it most likely meant; warns once per system about its keys accepted without effect.
 */
function checkYaml(
  groups: readonly SettingsGroup[],
  yaml: { path: string; doc: Record<string, unknown> },
  warn?: (message: string) => void,
): void {
  const yamlKeys = new Set(
    entries(groups).flatMap(([, s]) => names(s).flatMap((n) => n.yaml ? [n.yaml] : [])),
  );
  /** `limits`, `auth`…: YAML mappings that hold settings. */
  const sections = new Set(
    [...yamlKeys].flatMap((key) =>
      key.split(".").slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join("."))
    ),
  );
  const ignoredBy = new Map<string, string>();
  for (const g of groups) {
    for (const k of g.ignoredYaml?.keys ?? []) ignoredBy.set(k, g.ignoredYaml!.system);
  }
  const ignored = new Map<string, string[]>();

  const check = (doc: Record<string, unknown>, prefix: string) => {
    for (const [key, value] of Object.entries(doc)) {
      const path = prefix + key;
      if (yamlKeys.has(path)) continue;
      const system = ignoredBy.get(path);
      if (system) {
        ignored.set(system, [...ignored.get(system) ?? [], path]);
        continue;
      }
      if (sections.has(path)) {
        if (value === null) continue;
        if (!isMapping(value)) {
          const example = [...yamlKeys].find((k) => k.startsWith(path + "."));
          throw configError(
            yaml.path,
            `${path} must be a mapping of settings (such as ${example}), got ${
              JSON.stringify(value)
            }`,
          );
        }
        check(value, path + ".");
        continue;
      }
      const guess = closestKey(path, yamlKeys, sections);
      throw configError(
        yaml.path,
        `unknown key ${path}` + (guess ? `; did you mean ${guess}?` : "") +
          " (`catbusd --help` lists the settings)",
      );
    }
  };
  check(yaml.doc, "");
  for (const [system, paths] of ignored) {
    warn?.(
      `${yaml.path}: ${system} settings that Catbus does not implement are ignored: ${
        paths.join(", ")
      }`,
    );
  }
}

/** The setting a mistyped or misplaced key most likely meant, if any is close. */
function closestKey(path: string, keys: Set<string>, sections: Set<string>): string | undefined {
  const last = path.slice(path.lastIndexOf(".") + 1);
  const moved = [...keys].find((k) => k.endsWith("." + last));
  if (moved) return moved;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of [...keys, ...sections]) {
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

/**
 * Names used twice (two settings on one flag, variable or YAML key): the tables come from
 * several folders, so this is checked rather than assumed.
 */
export function duplicateNames(groups: readonly SettingsGroup[]): string[] {
  const seen = new Set<string>();
  const twice: string[] = [];
  const use = (name: string) => seen.has(name) ? twice.push(name) : seen.add(name);
  for (const [key, s] of entries(groups)) {
    use(`key ${key}`);
    use(`--${s.flag}`);
    if (s.short) use(`-${s.short}`);
    for (const n of names(s)) {
      if (n.env) use(n.env);
      if (n.yaml) use(`yaml ${n.yaml}`);
    }
  }
  return twice;
}

/** The options part of `catbusd --help`: every setting of every group with all its names. */
/** A setting's value as it would be written (`15s`, `1MiB`, `a,b`), for `--help` and examples. */
export const showValue = (s: AnySetting, value: unknown): string =>
  s.kind.show ? s.kind.show(value) : String(value);

/** `(default …)` for `--help`: nothing for a setting without one, or with an empty list. */
const defaultNote = (s: AnySetting) => {
  // Some help texts say their default in their own words.
  if (s.default === undefined || s.help.includes("(default")) return "";
  const shown = showValue(s, s.default);
  return shown === "" ? "" : ` (default ${shown})`;
};

export function settingsHelp(groups: readonly SettingsGroup[]): string {
  return groups.map((g) =>
    `${g.title}:\n` +
    Object.values(g.settings).map((s) => {
      const { env, yaml } = settingNames(s);
      return `  ${s.short ? `-${s.short}, ` : "    "}--${s.flag.padEnd(22)} ${s.help}${
        defaultNote(s)
      }\n` +
        `        ${env.length ? `env ${env.join(" or ")}, ` : ""}yaml ${yaml.join(" or ")}`;
    }).join("\n")
  ).join("\n\n");
}

/** Secrets by declaration, and by name for any table that forgot to say so. */
const isSecret = (s: AnySetting) => s.secret === true || /secret|password|token/.test(s.flag);

/**
 * The settings given (not left at their default), by flag, as written; secrets as `[redacted]`.
 * For the start-up log line.
 */
export function settingsSummary(
  groups: readonly SettingsGroup[],
  resolved: ResolvedSettings,
): Record<string, string> {
  const summary: Record<string, string> = {};
  for (const [key, s] of entries(groups)) {
    const origin = resolved.origins[key];
    if (resolved.values[key] === undefined || origin.endsWith("(default)")) continue;
    summary[s.flag] = isSecret(s) ? "[redacted]" : showValue(s, resolved.values[key]);
  }
  return summary;
}
