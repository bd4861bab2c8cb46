/**
 * Go's `time.Duration` text (what `Duration.String()` writes and `time.ParseDuration` reads):
 * an optional sign, then one or more decimal numbers each with a unit — `ns`, `us` (`µs`,
 * `μs`), `ms`, `s`, `m`, `h` — as in `0s`, `100us`, `1.5s`, `1m0s`, `2h45m`; a bare `0` too.
 * Bus's Go SDK sends its durations this way (`WithDelivery(time.Minute, …)` sends `1m0s`).
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

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
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const at = PART.lastIndex;
    const m = PART.exec(s);
    if (!m || m.index !== at) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
  }
  return sign * total;
}
