import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file.ts";

/**
 * Snapshots: a whole state saved atomically next to a log. The caller puts the log sequence
 * the snapshot covers inside `bytes`; restoring = load the snapshot, then replay the log from
 * that sequence + 1. Written with `writeFileAtomic`, so a crash or a full disk leaves either the
 * old snapshot or the new one, never a partial file.
 */
export function writeSnapshot(
  dir: string,
  name: string,
  bytes: Uint8Array,
  options: { sync?: boolean } = {},
): Promise<void> {
  return writeFileAtomic(join(dir, `${name}.snapshot`), bytes, options);
}

/** The snapshot's bytes, or undefined when none was written. */
export async function readSnapshot(dir: string, name: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(join(dir, `${name}.snapshot`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}
