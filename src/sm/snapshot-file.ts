import { crc32c } from "../log/crc32c.ts";
import { readSnapshot, writeSnapshot } from "../log/snapshot.ts";
import { SmError, SmErrorCode } from "./errors.ts";
import type { StateImage } from "./state.ts";

/**
 * The engine's snapshot: CRC-32C (4 bytes, big-endian) then the state image as JSON, written
 * atomically by the log's snapshot helper. Compaction deletes the log segments a snapshot
 * covers, so a damaged snapshot stops start-up instead of being skipped.
 */
const NAME = "state";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Serializes at once: the state keeps changing while the snapshot is written. */
export function encodeStateSnapshot(image: StateImage): Uint8Array {
  const json = encoder.encode(JSON.stringify(image));
  const bytes = new Uint8Array(4 + json.length);
  bytes.set(json, 4);
  new DataView(bytes.buffer).setUint32(0, crc32c(json));
  return bytes;
}

export const saveStateSnapshot = (dir: string, bytes: Uint8Array) =>
  writeSnapshot(dir, NAME, bytes);

export async function loadStateSnapshot(dir: string): Promise<StateImage | undefined> {
  const bytes = await readSnapshot(dir, NAME);
  if (!bytes) return undefined;
  const json = bytes.subarray(4);
  if (
    bytes.length < 4 || new DataView(bytes.buffer, bytes.byteOffset).getUint32(0) !== crc32c(json)
  ) {
    throw new SmError(
      SmErrorCode.WalIoError,
      `state snapshot ${dir}/${NAME}.snapshot is damaged (CRC mismatch); restore it from a backup ` +
        "(the log records it covers were compacted away)",
    );
  }
  return JSON.parse(decoder.decode(json));
}
