/**
 * Setting tables: each component declares its settings (kind, default, flag, environment names,
 * YAML key, help) in one table in its own folder; the server gathers the tables, and the resolver
 * (`settings-resolve.ts`), `catbusd --help` and the config type are all read from them.
 */
import { parseAddress } from "./address.ts";
import { formatDuration, formatSize, parseDuration, parseSize } from "./units.ts";

/** How a setting's value is written, and what it becomes. */
export interface SettingKind<T> {
  /** What a value looks like, for errors: `expected ${expected}, got …`. */
  expected: string;
  /** The value, or undefined when `raw` is not one; `source` names where it came from. */
  parse(raw: unknown, source: string): T | undefined;
  /** Given as a flag without a value (`--webtransport`, `--no-webtransport`). */
  boolean?: true;
  /** Shown in `--help` after a name whose unit differs from the setting's own (`seconds`). */
  unit?: string;
  /** A value as it would be written (`--help`'s defaults, the example file); `String` if absent. */
  show?(value: T): string;
}

export interface Setting<T> {
  kind: SettingKind<T>;
  /** Without one the setting is unset unless given (its help says what that means). */
  default?: T;
  flag: string;
  short?: string;
  env?: string;
  /** Other environment names honoured for the same setting (e.g. the Bus seed's). */
  envAliases?: readonly string[];
  /** Dotted path in the YAML file. */
  yaml: string;
  /** Other names for the same setting (rstmdb's, an earlier Catbus one), each in its own unit. */
  aliases?: readonly { yaml?: string; env?: string; kind?: SettingKind<T> }[];
  /** Numbers (sizes, durations, counts) must be above 0 unless 0 means something (see help). */
  allowZero?: true;
  /** A secret (a key, a password): never logged, never shown. */
  secret?: true;
  help: string;
}

/** One component's settings, by the name of the config field each one sets. */
export type SettingsTable = { readonly [key: string]: Setting<unknown> };

export interface SettingsGroup<T extends SettingsTable = SettingsTable> {
  /** Heading in `--help`. */
  title: string;
  settings: T;
  /**
   * Keys of another system's YAML file that are accepted without effect, so its file still
   * works (one warning names them). A section name covers all its keys.
   */
  ignoredYaml?: { system: string; keys: readonly string[] };
}

type ValueOf<S> = S extends { kind: SettingKind<infer V> } ? V : never;

/**
 * Declares a component's settings; the table's own type is kept, for `SettingsOf`, and each
 * default must be a value of its setting's kind.
 */
export const settingsGroup = <T extends SettingsTable>(
  group: SettingsGroup<T> & { settings: { [K in keyof T]: Setting<ValueOf<T[K]>> } },
) => group;

/** The values a table resolves to: settings with a default are always there, others optional. */
export type SettingsOf<T extends SettingsTable> =
  & { -readonly [K in keyof T as T[K] extends { default: unknown } ? K : never]: ValueOf<T[K]> }
  & { -readonly [K in keyof T as T[K] extends { default: unknown } ? never : K]?: ValueOf<T[K]> };

/** Where each setting came from, by key: `--bind`, `BUS_ADDR`, `c.yaml: bus.bind`. */
export type SettingOrigins<K extends PropertyKey> = { readonly [key in K]: string };

const kind = <T>(k: SettingKind<T>) => k;

export const text = kind<string>({
  expected: "a non-empty string",
  parse: (raw) => typeof raw === "string" && raw !== "" ? raw : undefined,
});

export const address = kind<string>({
  expected: "host:port",
  parse: (raw, source) => typeof raw === "string" && parseAddress(raw, source) ? raw : undefined,
});

/** A YAML list, or comma-separated text. */
export const list = kind<string[]>({
  expected: "a list",
  parse: (raw) =>
    Array.isArray(raw)
      ? raw.map(String)
      : typeof raw === "string"
      ? raw.split(",").map((s) => s.trim()).filter(Boolean)
      : undefined,
  show: (value) => value.join(","),
});

export const bool = kind<boolean>({
  expected: "true or false",
  boolean: true,
  parse: (raw) =>
    typeof raw === "boolean"
      ? raw
      : raw === "true" || raw === "1"
      ? true
      : raw === "false" || raw === "0"
      ? false
      : undefined,
});

export const size = kind<number>({
  expected: "a size such as 1048576 or 1MiB",
  parse: parseSize,
  show: formatSize,
});

/** Milliseconds; a bare number is milliseconds. */
export const duration = kind<number>({
  expected: "a duration such as 15000, 15s or 500ms",
  parse: parseDuration,
  show: formatDuration,
});

/** Milliseconds, written as rstmdb writes durations: a bare number is seconds. */
export const seconds = kind<number>({
  expected: "a number of seconds such as 300",
  unit: "seconds",
  parse: (raw) => {
    const bare = typeof raw === "number" ||
      (typeof raw === "string" && /^\s*\d+(\.\d+)?\s*$/.test(raw));
    return bare ? Number(raw) * 1000 : parseDuration(raw);
  },
  show: (ms) => String(ms / 1000),
});

export const count = kind<number>({
  expected: "a whole number",
  parse: (raw) => {
    const n = typeof raw === "string" ? Number(raw) : raw;
    return Number.isSafeInteger(n) && (n as number) >= 0 ? n as number : undefined;
  },
});

/** Bytes, written as a number of MiB (rstmdb's unit). */
export const megabytes = kind<number>({
  expected: "a number of MiB such as 64 or 0.5",
  unit: "MiB",
  parse: (raw) => {
    const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
    return typeof n === "number" && Number.isFinite(n) && n >= 0
      ? Math.round(n * 1024 * 1024)
      : undefined;
  },
  show: (bytes) => String(bytes / 1024 / 1024),
});

/** One of a few values (`"4096"` and `4096` are the same). */
export const oneOf = <const T extends string | number>(values: readonly T[]) =>
  kind<T>({
    expected: values.slice(0, -1).join(", ") + " or " + values[values.length - 1],
    parse: (raw) => values.find((v) => String(v) === String(raw)),
  });

/** Text that `check` accepts (it throws on anything else). */
export const checked = (
  expected: string,
  check: (text: string) => unknown,
  toText: (raw: unknown) => string = String,
) =>
  kind<string>({
    expected,
    parse: (raw) => {
      try {
        const value = toText(raw);
        check(value);
        return value;
      } catch {
        return undefined;
      }
    },
  });
