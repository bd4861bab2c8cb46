/// <reference lib="deno.worker" />
import { argon2id, argon2Verify } from "hash-wasm";

/**
 * The argon2id work of password.ts, off the server's event loop: one hash takes about a
 * second of CPU (64 MiB, 3 passes), which on the main thread would stall every connection of
 * every door for that long.
 */
self.onmessage = async (e: MessageEvent) => {
  const { id, op, password, hash } = e.data as {
    id: number;
    op: "hash" | "verify";
    password: string;
    hash?: string;
  };
  try {
    const result = op === "hash"
      ? await argon2id({
        password,
        salt: crypto.getRandomValues(new Uint8Array(16)),
        parallelism: 4,
        iterations: 3,
        memorySize: 65536,
        hashLength: 32,
        outputType: "encoded",
      })
      : await argon2Verify({ password, hash: hash! });
    self.postMessage({ id, result });
  } catch (error) {
    self.postMessage({ id, error: String(error) });
  }
};
