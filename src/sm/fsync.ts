import { type FsyncPolicy, parseFsyncPolicy } from "../log/fsync-policy.ts";
import { badRequest } from "./errors.ts";

/**
 * rstmdb's fsync policy names mapped onto the log's policies (Catbus's own names work too):
 * `every_write` → always (group commit), `every_ms:N` → interval:N, `every_n:N` → every:N,
 * `never` → never.
 */
export function parseSmFsyncPolicy(text: string): FsyncPolicy {
  if (text === "every_write") return { kind: "always" };
  const m = /^(every_ms|every_n):(\d+)$/.exec(text);
  if (m && Number(m[2]) >= 1) {
    const n = Number(m[2]);
    return m[1] === "every_ms" ? { kind: "interval", ms: n } : { kind: "every", n };
  }
  try {
    return parseFsyncPolicy(text);
  } catch {
    throw badRequest(
      `fsync policy "${text}" is not one of every_write, every_ms:N, every_n:N, never (e.g. every_ms:5)`,
    );
  }
}

/**
 * The text of an fsync policy as configured: rstmdb's YAML also writes the numbered policies as
 * a mapping (`fsync_policy: {every_ms: 100}`), which is `every_ms:100` here.
 */
export function smFsyncText(raw: unknown): string {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return String(raw);
  const entries = Object.entries(raw);
  return entries.length === 1 ? `${entries[0][0]}:${entries[0][1]}` : JSON.stringify(raw);
}
