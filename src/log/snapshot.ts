import { join } from "node:path";
import { syncDir } from "./log.ts";

/**
 * Snapshots: a whole state saved atomically next to a log. The caller puts the log sequence
 * the snapshot covers inside `bytes`; restoring = load the snapshot, then replay the log from
 * that sequence + 1. Written to a temp file, fsynced, renamed into place, and the directory
 * fsynced, so a crash leaves either the old snapshot or the new one, never a partial file.
 */
export async function writeSnapshot(
  dir: string,
  name: string,
  bytes: Uint8Array,
  options: { sync?: boolean } = {},
): Promise<void> {
  const sync = options.sync ?? true;
  const path = join(dir, `${name}.snapshot`);
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  const f = await Deno.open(tmp, { write: true, createNew: true });
  try {
    for (let off = 0; off < bytes.length;) off += await f.write(bytes.subarray(off));
    if (sync) await f.sync();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path);
  if (sync) await syncDir(dir);
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
