/** The open-file limit catbusd runs with; `raisedFrom` when start-up raised it. */
export interface OpenFileLimit {
  soft: number;
  hard: number;
  raisedFrom?: number;
}

const LIBC: Partial<Record<typeof Deno.build.os, { path: string; nofile: number }>> = {
  linux: { path: "libc.so.6", nofile: 7 },
  darwin: { path: "libSystem.dylib", nofile: 8 },
};

/** RLIM_INFINITY is all ones. */
const count = (n: bigint) => n >= 1n << 63n ? Infinity : Number(n);

/**
 * Raises the soft limit on open files (RLIMIT_NOFILE) to the hard limit: every connection is a
 * descriptor, and the usual soft default (1024) is far below what a server needs. Deno has no
 * API for it, so this calls libc's getrlimit/setrlimit through FFI. Returns undefined where that
 * is not possible (another OS, no FFI permission); the limit is then what the shell gave.
 * (The Deno runtime itself may have raised it already; then there is nothing left to raise.)
 */
export function raiseOpenFileLimit(): OpenFileLimit | undefined {
  const libc = LIBC[Deno.build.os];
  if (!libc) return undefined;
  let lib;
  try {
    lib = Deno.dlopen(libc.path, {
      getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
      setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
    });
  } catch {
    return undefined;
  }
  try {
    // struct rlimit { rlim_t rlim_cur; rlim_t rlim_max; }: two 64-bit counts.
    const limit = new BigUint64Array(2);
    if (lib.symbols.getrlimit(libc.nofile, limit) !== 0) return undefined;
    const [soft, hard] = [count(limit[0]), count(limit[1])];
    if (soft >= hard) return { soft, hard };
    limit[0] = limit[1];
    if (lib.symbols.setrlimit(libc.nofile, limit) !== 0) return { soft, hard };
    return { soft: hard, hard, raisedFrom: soft };
  } finally {
    lib.close();
  }
}
