import { concat } from "../shared/bytes.ts";

/**
 * Collects what is sent in one tick and hands it to `write` as one chunk: per-write cost
 * (a WebSocket message, a stream write, an HTTP request) dominates small frames.
 */
export function tickBatcher(
  write: (bytes: Uint8Array) => void,
): (bytes: Uint8Array) => void {
  let batch: Uint8Array[] = [];
  const flush = () => {
    const parts = batch;
    batch = [];
    write(parts.length === 1 ? parts[0] : concat(parts));
  };
  return (bytes) => {
    if (batch.push(bytes) === 1) queueMicrotask(flush);
  };
}
