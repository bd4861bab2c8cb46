import { join } from "node:path";
import { base64url, randomBytes } from "../auth/crypto.ts";

/** Creates the data directory (owner-only) if missing. */
export async function ensureDataDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
}

/**
 * The token signing secret when none is configured: read from DATA/secret, created on first
 * start (owner-only), so `catbusd` and `catbus grant` agree with no set-up.
 */
export async function loadOrCreateSecret(dir: string): Promise<string> {
  const path = join(dir, "secret");
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await ensureDataDir(dir);
  const secret = base64url(randomBytes(32));
  try {
    await Deno.writeTextFile(path, secret + "\n", {
      createNew: true,
      mode: 0o600,
    });
    return secret;
  } catch (e) {
    // Another process created it first: use theirs.
    if (e instanceof Deno.errors.AlreadyExists) {
      return (await Deno.readTextFile(path)).trim();
    }
    throw e;
  }
}

/** Reads the secret without creating one (for the CLI, which must not invent a different key). */
export async function readSecret(dir: string): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(join(dir, "secret"))).trim();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}
