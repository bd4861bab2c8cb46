/** Reads samples out of a Prometheus text exposition, as a scraper would. */

/** Every sample of `name` whose labels include `labels`, summed; undefined when there is none. */
export function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  let total: number | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries(
      [...(m[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) {
      total = (total ?? 0) + Number(m[4]);
    }
  }
  return total;
}

/** The label values `label` takes among the samples of `name`. */
export function labelValues(text: string, name: string, label: string): string[] {
  const values = new Set<string>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{")) continue;
    const m = new RegExp(`[{,]${label}="([^"]*)"`).exec(line);
    if (m) values.add(m[1]);
  }
  return [...values].sort();
}

export async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${text}`);
  return text;
}
