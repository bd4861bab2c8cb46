/**
 * What the harness reads about a server process from /proc (Linux): its CPU time, its memory,
 * and which process listens on a port (the peers NATS and Redis run as system services).
 */

/** CPU seconds (user + system) the process has used so far, from /proc/<pid>/stat. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

export async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

/**
 * The process listening on a TCP port of 127.0.0.1: the socket's inode from /proc/net/tcp, then
 * the process holding a descriptor to it. Undefined when it cannot be read (another user's
 * process), so the harness leaves that system's CPU column empty rather than failing.
 */
export async function listenerPid(port: number): Promise<number | undefined> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Deno.readTextFile(table).catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local address is f[1] ("0100007F:1096"), state 0A is LISTEN, f[9] the inode.
      if (f.length > 9 && f[1].endsWith(`:${hexPort}`) && f[3] === "0A") inodes.add(f[9]);
    }
  }
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      for await (const fd of Deno.readDir(`/proc/${entry.name}/fd`)) {
        const link = await Deno.readLink(`/proc/${entry.name}/fd/${fd.name}`).catch(() => "");
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m && inodes.has(m[1])) return Number(entry.name);
      }
    } catch { /* not ours to read, or gone */ }
  }
  return undefined;
}
