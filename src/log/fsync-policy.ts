import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";

/**
 * When appended records reach the disk, and when an append is acknowledged:
 * - `always`: fsync before acknowledging; appends that arrive during an fsync share the next one
 *   (group commit), so throughput grows with concurrency.
 * - `interval:MS`: fsync every MS ms; appends are acknowledged once written, so a crash of the
 *   machine (not just the process) may lose up to MS ms of acknowledged records.
 * - `every:N`: fsync after every N records; appends are acknowledged once written (a machine
 *   crash may lose up to N-1 acknowledged records).
 * - `never`: acknowledged once written; the OS decides when data reaches the disk.
 */
export type FsyncPolicy =
  | { kind: "always" }
  | { kind: "interval"; ms: number }
  | { kind: "every"; n: number }
  | { kind: "never" };

export function parseFsyncPolicy(text: string): FsyncPolicy {
  if (text === "always" || text === "never") return { kind: text };
  const m = /^(interval|every):(\d+)$/.exec(text);
  const n = m ? Number(m[2]) : 0;
  if (m && n >= 1) return m[1] === "interval" ? { kind: "interval", ms: n } : { kind: "every", n };
  throw new CatbusError(
    ErrorCode.BadRequest,
    `fsync policy "${text}" is not one of always, interval:MS, every:N, never (e.g. interval:5)`,
  );
}
