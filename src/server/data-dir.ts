import { join } from "node:path";
import { base64url, randomBytes } from "../auth/crypto.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { createFileAtomic } from "../log/atomic-file.ts";

/** Creates the data directory (owner-only) if missing. */
export async function ensureDataDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
}

const LOCK_FILE = "data.lock";

/** Held while a process owns a data directory; `release` gives it up (so does the process's end). */
export interface DataDirLock {
  release(): void;
}

/**
 * Takes the data directory for this process alone: an exclusive lock on `DATA/data.lock`, which then
 * names the holder. Two writers on one directory both handed out the same sequence numbers, so
 * a second server, or an offline command (`restore`, `copy`, `compact`, `repair`), refuses with
 * the holder's pid instead. The operating system drops the lock when the process ends, however
 * it ends, so a crash leaves no stale lock behind.
 */
export async function lockDataDir(dir: string, holder: string): Promise<DataDirLock> {
  const path = join(dir, LOCK_FILE);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true, create: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new CatbusError(
      ErrorCode.NotFound,
      `data directory ${dir} does not exist; is --data right?`,
    );
  }
  if (!(await file.tryLock(true))) {
    file.close();
    const who = (await Deno.readTextFile(path).catch(() => "")).trim() || "another process";
    throw new CatbusError(
      ErrorCode.Unavailable,
      `data directory ${dir} is in use by ${who}; stop it first, or give another --data ` +
        `(read a live server's messages with --url instead)`,
    );
  }
  try {
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`pid ${Deno.pid} (${holder})\n`));
  } catch { /* the name of the holder is a courtesy (a full disk must not stop start-up) */ }
  return { release: () => file.close() };
}

/**
 * The token signing secret when none is configured: read from DATA/secret, created on first
 * start (owner-only, atomically: never an empty secret after a crash or a full disk), so
 * `catbusd` and `catbus grant` agree with no set-up.
 */
export async function loadOrCreateSecret(dir: string): Promise<string> {
  const existing = await readSecret(dir);
  if (existing !== undefined) return existing;
  await ensureDataDir(dir);
  const secret = base64url(randomBytes(32));
  const path = join(dir, "secret");
  // Another process may create it first: then use theirs.
  if (await createFileAtomic(path, new TextEncoder().encode(secret + "\n"), { mode: 0o600 })) {
    return secret;
  }
  return (await readSecret(dir))!;
}

/** Reads the secret without creating one (for the CLI, which must not invent a different key). */
export async function readSecret(dir: string): Promise<string | undefined> {
  const path = join(dir, "secret");
  let secret: string;
  try {
    secret = (await Deno.readTextFile(path)).trim();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  if (!secret) {
    throw new CatbusError(
      ErrorCode.Internal,
      `${path} is empty; delete it to have a new one made (tokens signed with the old secret ` +
        `stop working), or give the secret with --secret`,
    );
  }
  return secret;
}
