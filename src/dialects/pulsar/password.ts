import { argon2id, argon2Verify } from "hash-wasm";

/**
 * Passwords as the original stores them: argon2id PHC strings with pwdlib's recommended
 * parameters (64 MiB, 3 passes, 4 lanes, 16-byte salt, 32-byte hash), so users exported from a
 * Pulsar Relay deployment log in unchanged. hash-wasm runs it in WebAssembly (no native addon).
 */
export function hashPassword(password: string): Promise<string> {
  return argon2id({
    password,
    salt: crypto.getRandomValues(new Uint8Array(16)),
    parallelism: 4,
    iterations: 3,
    memorySize: 65536,
    hashLength: 32,
    outputType: "encoded",
  });
}

/** False for a wrong password or a hash that is not an argon2 PHC string. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (!hash.startsWith("$argon2")) return false;
  try {
    return await argon2Verify({ password, hash });
  } catch {
    return false;
  }
}
