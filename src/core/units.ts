/** Parses human sizes and durations from config: `1MiB`, `64KB`, `512`; `15s`, `500ms`, `2m`. */
const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};
const DURATION_UNITS: Record<string, number> = {
  "": 1,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

function parseWithUnits(
  value: unknown,
  units: Record<string, number>,
): number | undefined {
  if (typeof value === "number") {
    return Number.isFinite(value) && value >= 0 ? value : undefined;
  }
  if (typeof value !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!m) return undefined;
  const unit = units[m[2].toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

export const parseSize = (v: unknown) => parseWithUnits(v, SIZE_UNITS);
/** Also Go's duration text (`1m0s`, `1.5s`), as Bus's settings are written. */
export const parseDuration = (v: unknown) => {
  const ms = parseWithUnits(v, DURATION_UNITS);
  if (ms !== undefined || typeof v !== "string") return ms;
  const go = parseGoDuration(v.trim());
  return go !== undefined && go >= 0 ? Math.round(go) : undefined;
};

/**
 * Go's `time.Duration` text (what `Duration.String()` writes and `time.ParseDuration` reads):
 * an optional sign, then one or more decimal numbers each with a unit — `ns`, `us` (`µs`,
 * `μs`), `ms`, `s`, `m`, `h` — as in `0s`, `100us`, `1.5s`, `1m0s`, `2h45m`; a bare `0` too.
 * Bus's Go SDK sends its durations this way (`WithDelivery(time.Minute, …)` sends `1m0s`).
 */
const GO_UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const GO_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Milliseconds (fractions kept), or undefined when `text` is not a Go duration. */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s[0] === "-" || s[0] === "+") {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return undefined;
  let total = 0;
  GO_PART.lastIndex = 0;
  while (GO_PART.lastIndex < s.length) {
    const at = GO_PART.lastIndex;
    const m = GO_PART.exec(s);
    if (!m || m.index !== at) return undefined;
    total += Number(m[1]) * GO_UNIT_MS[m[2]];
  }
  return sign * total;
}

/** Milliseconds as the largest whole unit: 15000 → `15s`, 90000 → `90s`, 250 → `250ms`. */
export function formatDuration(ms: number): string {
  for (
    const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const
  ) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Bytes as the largest whole binary unit: 1048576 → `1MiB`, 1000 → `1000`. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
