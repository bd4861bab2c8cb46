import { Redis } from "iovalkey";
import { runNodeChannelsContract } from "./contracts/node-channels.ts";
import { deleteKeys, uniquePrefix, valkeyOrSkip } from "./helpers/valkey.ts";
import { ValkeyEngine } from "../src/streams/valkey/valkey-engine.ts";
import type { NodeChannels } from "../src/streams/node-channels.ts";

const url = await valkeyOrSkip("the Valkey node-channel contract");

if (url) {
  runNodeChannelsContract("valkey", () => {
    const prefix = uniquePrefix("nodes");
    const engines: ValkeyEngine[] = [];
    return Promise.resolve({
      async open(urls: string[]): Promise<NodeChannels> {
        const engine = await ValkeyEngine.connect({
          url,
          prefix,
          dedupeWindowMs: 0,
          retention: { maxAgeMs: 0, maxMessages: 0, maxBytes: 0 },
          checkIntervalMs: 60_000,
        });
        engines.push(engine);
        return await engine.nodeChannels({ urls, ttlMs: 5_000 });
      },
      async expire(node: string) {
        const client = new Redis(url);
        try {
          // Its listing says it expired a second ago (the heartbeat compares with the server's time).
          await client.hset(`${prefix}{nodes}:list`, node, `${Date.now() - 1000} []`);
        } finally {
          client.disconnect();
        }
      },
      async dispose() {
        for (const engine of engines) await engine.close();
        await deleteKeys(url, prefix);
      },
    });
  });
}
