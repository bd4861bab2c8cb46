/**
 * What `catbus sm` prints for each verb: the text rstmdb-cli prints (so scripts written for it
 * keep working), or pretty JSON for verbs it has no text for. `--json` prints the raw result.
 */
type Result = Record<string, unknown>;

const pretty = (v: unknown) => JSON.stringify(v, null, 2);

/** rstmdb-cli's byte counts: B, KB, MB, GB (powers of 1024, two decimals). */
export function formatBytes(bytes: number): string {
  const units: [number, string][] = [[1024 ** 3, "GB"], [1024 ** 2, "MB"], [1024, "KB"]];
  for (const [size, unit] of units) {
    if (bytes >= size) return `${(bytes / size).toFixed(2)} ${unit}`;
  }
  return `${bytes} B`;
}

interface WalRecord {
  sequence: number;
  offset: number;
  entry: Record<string, unknown>;
}

/** One line per record (`[   seq]       offset | type`), details under instance changes. */
export function formatWalRead(result: Result): string {
  const records = result.records as WalRecord[];
  if (!records.length) return "No WAL entries";
  let out = "";
  for (const { sequence, offset, entry } of records) {
    out += `[${String(sequence).padStart(6)}] ${String(offset).padStart(12)} | ${entry.type}\n`;
    if (entry.type === "create_instance") {
      out +=
        `         Instance: ${entry.instance_id}, Machine: ${entry.machine} v${entry.version}\n`;
    } else if (entry.type === "apply_event") {
      out += `         Instance: ${entry.instance_id}, Event: ${entry.event}, ` +
        `${entry.from_state} → ${entry.to_state}\n`;
    }
  }
  if (typeof result.next_offset === "number") out += `\nNext offset: ${result.next_offset}`;
  return out;
}

/** The text for a one-shot verb's result; `args` are the request's params. */
export function formatResult(verb: string, result: Result, args: Result): string {
  switch (verb) {
    case "ping":
      return "PONG";
    case "put-machine":
      return `${result.created ? "Created" : "Already exists"} machine ${args.machine} ` +
        `v${args.version} (checksum: ${result.stored_checksum})`;
    case "get-machine":
      return `Machine ${args.machine} v${args.version}\n${pretty(result.definition)}`;
    case "create-instance":
      return `Created instance ${result.instance_id}\n  Machine: ${args.machine} v${args.version}` +
        `\n  State: ${result.state}\n  WAL offset: ${result.wal_offset}`;
    case "get-instance":
      return `Instance ${args.instance_id}\n  Machine: ${result.machine} v${result.version}` +
        `\n  State: ${result.state}${result.deleted ? " (deleted)" : ""}` +
        `\n  Context: ${pretty(result.ctx)}\n  Last WAL offset: ${result.last_wal_offset}`;
    case "apply-event":
      return `Applied event ${args.event} on ${args.instance_id}\n  ${result.from_state} → ` +
        `${result.to_state}\n  WAL offset: ${result.wal_offset}`;
    case "delete-instance":
      return `Deleted instance ${args.instance_id}`;
    case "wal-read":
      return formatWalRead(result);
    case "compact":
      return `Compaction complete\n  Snapshots created: ${result.snapshots_created}` +
        `\n  WAL segments deleted: ${result.segments_deleted}` +
        `\n  Bytes reclaimed: ${formatBytes(result.bytes_reclaimed as number)}\n  ---` +
        `\n  Total snapshots: ${result.total_snapshots}` +
        `\n  WAL segments remaining: ${result.wal_segments}`;
    case "flush-all":
      return `Flushed all data\n  Instances removed: ${result.instances_removed}` +
        `\n  Machines removed: ${result.machines_removed}`;
    case "unwatch":
      return result.removed
        ? `Removed subscription ${args.subscription_id}`
        : `Warning: subscription ${args.subscription_id} not found`;
  }
  return pretty(result);
}

/** `list-machines`: each machine's latest version with its state and transition counts. */
export function formatMachineList(
  machines: { machine: string; latest?: number; definition?: Result }[],
): string {
  if (!machines.length) return "No machines registered";
  return machines.map(({ machine, latest, definition }) => {
    if (latest === undefined) return `  ${machine} [no versions]`;
    const count = (key: string) => (definition?.[key] as unknown[] | undefined)?.length ?? 0;
    return `  ${machine} v${latest} (${count("states")} states, ${
      count("transitions")
    } transitions)`;
  }).join("\n");
}
