import { runNodeChannelsContract } from "./contracts/node-channels.ts";
import { testDatabase } from "./helpers/postgres.ts";
import { openPool, type Sql } from "../src/connectors/postgres/connect.ts";
import { randomId } from "../src/core/ids.ts";
import type { NodeChannels } from "../src/streams/node-channels.ts";
import {
  NODE_CHANNELS_SCHEMA,
  PostgresNodeChannels,
} from "../src/streams/postgres/node-channels.ts";

const probe = await testDatabase("the PostgreSQL node-channel contract");
await probe?.[Symbol.asyncDispose]();

if (probe) {
  runNodeChannelsContract("postgres", async () => {
    const db = (await testDatabase("the PostgreSQL node-channel contract"))!;
    await db.sql.unsafe(NODE_CHANNELS_SCHEMA);
    const opened: { channels: NodeChannels; sql: Sql }[] = [];
    return {
      async open(urls: string[]): Promise<NodeChannels> {
        const sql = openPool(db.url, "catbus test node");
        const channels = new PostgresNodeChannels({
          sql,
          url: db.url,
          node: randomId(12),
          urls,
          ttlMs: 5_000,
        });
        opened.push({ channels, sql });
        await channels.start();
        return channels;
      },
      async expire(node: string) {
        await db.sql`update catbus_nodes set expires_at = now() - interval '1 second'
          where node = ${node}`;
      },
      async dispose() {
        for (const { channels, sql } of opened) {
          await channels.close();
          await sql.end({ timeout: 1 });
        }
        await db[Symbol.asyncDispose]();
      },
    };
  });
}
