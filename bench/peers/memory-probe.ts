/**
 * What a server under bench/idle-connections.ts answers on SIGUSR2: it collects garbage and
 * shrinks its heap (when run with `--v8-flags=--expose-gc`), writes a heap snapshot to
 * `$BENCH_HEAP_SNAPSHOT.N` (N = 0, 1, …) if that is set, and prints one line `memory {json}` on
 * stderr with Deno.memoryUsage().
 */
import { writeHeapSnapshot } from "node:v8";

export function installMemoryProbe(): void {
  let taken = 0;
  Deno.addSignalListener("SIGUSR2", () => {
    const gc = (globalThis as { gc?: (options?: object) => void }).gc;
    // A full collection that also shrinks the heap, as V8's memory reducer does to an idle
    // process after a while; twice, the first pass runs finalizers that free what the second
    // one collects.
    for (let i = 0; i < 2; i++) gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
    const snapshot = Deno.env.get("BENCH_HEAP_SNAPSHOT");
    if (snapshot) writeHeapSnapshot(`${snapshot}.${taken++}`);
    console.error(`memory ${JSON.stringify({ ...Deno.memoryUsage(), gc: gc !== undefined })}`);
  });
}
