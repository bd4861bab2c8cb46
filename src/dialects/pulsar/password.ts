/**
 * Passwords as the original stores them: argon2id PHC strings with pwdlib's recommended
 * parameters (64 MiB, 3 passes, 4 lanes, 16-byte salt, 32-byte hash), so users exported from a
 * Pulsar Relay deployment log in unchanged. hash-wasm runs it in WebAssembly (no native addon),
 * in a worker (password-worker.ts), so a login never stalls the event loop. The worker starts on
 * first use and keeps the process alive until `stopPasswordWorker()`.
 */
let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

function run(job: { op: "hash" | "verify"; password: string; hash?: string }): Promise<unknown> {
  if (!worker) {
    worker = new Worker(new URL("./password-worker.ts", import.meta.url).href, { type: "module" });
    worker.onmessage = (e: MessageEvent) => {
      const { id, result, error } = e.data;
      const waiter = pending.get(id)!;
      pending.delete(id);
      if (error) waiter.reject(new Error(error));
      else waiter.resolve(result);
    };
  }
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker!.postMessage({ id, ...job });
  });
}

export async function hashPassword(password: string): Promise<string> {
  return await run({ op: "hash", password }) as string;
}

/** False for a wrong password or a hash that is not an argon2 PHC string. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (!hash.startsWith("$argon2")) return false;
  try {
    return await run({ op: "verify", password, hash }) as boolean;
  } catch {
    return false;
  }
}

/** Ends the worker (at shutdown, or when a command is done); a later call starts a new one. */
export function stopPasswordWorker(): void {
  worker?.terminate();
  worker = undefined;
  for (const waiter of pending.values()) waiter.reject(new Error("password worker stopped"));
  pending.clear();
}
