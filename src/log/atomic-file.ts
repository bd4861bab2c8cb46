import { dirname } from "node:path";
import { storageError } from "./errors.ts";

/**
 * Replaces `path` with `bytes` so that a crash or a full disk leaves either the old file or the
 * new one, never a partial file: written to a temp file beside it, fsynced, renamed into place,
 * and the directory fsynced. A failure removes the temp file and throws a `storageError` (disk
 * full is `unavailable`).
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  options: { sync?: boolean; mode?: number } = {},
): Promise<void> {
  const sync = options.sync ?? true;
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    const f = await Deno.open(tmp, { write: true, createNew: true, mode: options.mode });
    try {
      for (let off = 0; off < bytes.length;) off += await f.write(bytes.subarray(off));
      if (sync) await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw storageError(e, path);
  }
  if (sync) await syncDir(dirname(path));
}

/** Creates `path` atomically with `bytes`; false (and nothing written) when it already exists. */
export async function createFileAtomic(
  path: string,
  bytes: Uint8Array,
  options: { mode?: number } = {},
): Promise<boolean> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await writeFileAtomic(tmp, bytes, options);
    // A hard link fails when the name is taken, where a rename would replace it.
    await Deno.link(tmp, path);
    await syncDir(dirname(path));
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw storageError(e, path);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

export async function syncDir(dir: string): Promise<void> {
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch { /* some platforms cannot fsync a directory */ }
}
