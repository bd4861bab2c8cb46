import { join } from "node:path";
import { streamDir, StreamStore } from "../src/streams/stream-store.ts";
import { type EngineOptions, runStreamEngineContract } from "./contracts/stream-engine.ts";

/** The local engine: one log per namespace in a temporary data directory, small segments. */
async function localEngine(options: EngineOptions) {
  const data = await Deno.makeTempDir({ prefix: "catbus-engine-" });
  const open = () =>
    new StreamStore(data, { fsync: { kind: "always" }, segmentBytes: 600 }, {
      retention: { maxAgeMs: 0, maxMessages: options.retainMessages ?? 0, maxBytes: 0 },
    });
  const engines = [open()];
  return {
    engine: engines[0],
    crashed: () => Promise.resolve(engines[engines.push(open()) - 1]),
    async loseRecords(namespace: string) {
      const dir = streamDir(data, namespace);
      const segments: string[] = [];
      for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".seg")) segments.push(e.name);
      await Deno.remove(join(dir, segments.sort()[0]));
    },
    async dispose() {
      for (const engine of engines) await engine.close();
      await Deno.remove(data, { recursive: true });
    },
  };
}

runStreamEngineContract("local", localEngine);
