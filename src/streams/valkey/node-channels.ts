import { Buffer } from "node:buffer";
import type { Connection } from "./connection.ts";
import type { LiveNode } from "../node-channels.ts";
import type { EntryWrite, NodeEntries } from "../node-registry.ts";
import { type Heartbeat, RegistryNodeChannels } from "../registry-node-channels.ts";

/**
 * KEYS[1] the node list, KEYS[2] this node's entries; ARGV[1] node, ARGV[2] its URLs (JSON),
 * ARGV[3] TTL (ms). Lists this node until now + TTL (the server's clock), drops nodes past their
 * time, keeps this node's entries alive. Returns {entries kept (0: they expired), node, value, …}.
 */
const HEARTBEAT = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now + tonumber(ARGV[3])) .. ' ' .. ARGV[2])
local kept = redis.call('PEXPIRE', KEYS[2], ARGV[3])
local all, live = redis.call('HGETALL', KEYS[1]), {}
for i = 1, #all, 2 do
  if tonumber(string.match(all[i + 1], '^%d+')) < now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    live[#live + 1] = all[i]
    live[#live + 1] = all[i + 1]
  end
end
return {kept, unpack(live)}
`;

/**
 * KEYS[1] this node's entries; ARGV[1] change channel, ARGV[2] node, ARGV[3] TTL (ms), then
 * "+entry" / "-entry" (or, ARGV[4] = "*", every entry: the set is written again). Bumps the
 * version (field "#v") and announces "node version" and the changes.
 */
const ENTER = `
local v = tonumber(redis.call('HGET', KEYS[1], '#v') or '0') + 1
local ops = {}
if ARGV[4] == '*' then
  redis.call('DEL', KEYS[1])
  for i = 5, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], '1') end
  ops[1] = '*'
else
  for i = 4, #ARGV do
    local entry = string.sub(ARGV[i], 2)
    if string.sub(ARGV[i], 1, 1) == '+' then
      redis.call('HSET', KEYS[1], entry, '1')
    else
      redis.call('HDEL', KEYS[1], entry)
    end
    ops[#ops + 1] = ARGV[i]
  end
end
redis.call('HSET', KEYS[1], '#v', string.format('%d', v))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. v .. '\\n' .. table.concat(ops, '\\n'))
return v
`;

type Script = (...args: (string | number)[]) => Promise<unknown>;
type Scripted = Connection & { catbusHeartbeat: Script; catbusEnter: Script };

const VERSION = "#v";
const decoder = new TextDecoder();
const encoder = new TextEncoder();

export interface ValkeyNodeOptions {
  prefix: string;
  node: string;
  /** This node's public URLs, listed for the others (and for clients, in the welcome). */
  urls: readonly string[];
  /** A node that stops renewing its listing is gone after this long (ms). */
  ttlMs: number;
}

/**
 * Node channels on Valkey: an inbox channel per node (`PUBLISH`), and the registry in one hash
 * slot (`{nodes}`): a hash listing the live nodes with their URLs and expiry times (server
 * time), and a hash per node of its entries with a version (field "#v"), every change announced
 * on one channel (see RegistryMirror for how the others apply them).
 */
export class ValkeyNodeChannels extends RegistryNodeChannels {
  readonly #client: Scripted;
  readonly #sub: Connection;
  readonly #prefix: string;
  readonly #ttlMs: number;

  constructor(client: Connection, sub: Connection, options: ValkeyNodeOptions) {
    super(options.node, options.urls, options.ttlMs);
    client.defineCommand("catbusHeartbeat", { lua: HEARTBEAT, numberOfKeys: 2 });
    client.defineCommand("catbusEnter", { lua: ENTER, numberOfKeys: 1 });
    this.#client = client as Scripted;
    this.#sub = sub;
    this.#prefix = options.prefix;
    this.#ttlMs = options.ttlMs;
  }

  get #tag(): string {
    return `${this.#prefix}{nodes}`;
  }
  get #list(): string {
    return `${this.#tag}:list`;
  }
  #entries(node: string): string {
    return `${this.#tag}:${node}:entries`;
  }
  /** The channel every change of an entry set is announced on. */
  get changes(): string {
    return `${this.#tag}:changed`;
  }
  /** A node's inbox channel. */
  inbox(node = this.node): string {
    return `${this.#tag}:${node}:inbox`;
  }

  /** Subscribes to the inbox and the changes, and lists this node. */
  async start(): Promise<void> {
    await this.#sub.subscribe(this.inbox(), this.changes);
    await this.beat();
  }

  /** Handles a pub/sub message the engine's subscription got; false when it is not one of ours. */
  message(channel: string, body: Uint8Array): boolean {
    if (channel === this.inbox()) {
      const end = body.indexOf(10);
      if (end > 0) this.deliver(decoder.decode(body.subarray(0, end)), body.subarray(end + 1));
      return true;
    }
    if (channel !== this.changes) return false;
    this.changed(decoder.decode(body));
    return true;
  }

  async send(to: string, body: Uint8Array): Promise<void> {
    const from = encoder.encode(this.node + "\n");
    const bytes = Buffer.alloc(from.length + body.length);
    bytes.set(from, 0);
    bytes.set(body, from.length);
    await this.#client.publish(this.inbox(to), bytes);
  }

  protected async writeEntries({ ops, all }: EntryWrite): Promise<void> {
    await this.#client.catbusEnter(
      this.#entries(this.node),
      this.changes,
      this.node,
      this.#ttlMs,
      ...(all ? ["*", ...all] : ops),
    );
  }

  protected async readEntries(node: string): Promise<NodeEntries> {
    const fields = await this.#client.hgetall(this.#entries(node));
    const entries = new Set(Object.keys(fields).filter((f) => f !== VERSION));
    return { version: Number(fields[VERSION] ?? 0), entries };
  }

  protected async heartbeat(urls: readonly string[]): Promise<Heartbeat | undefined> {
    let reply: (string | number)[];
    try {
      reply = await this.#client.catbusHeartbeat(
        this.#list,
        this.#entries(this.node),
        this.node,
        JSON.stringify(urls),
        this.#ttlMs,
      ) as (string | number)[];
    } catch {
      return; // the engine is unreachable: its connection's watcher says so
    }
    const [kept, ...listed] = reply;
    const live: LiveNode[] = [];
    for (let i = 0; i + 1 < listed.length; i += 2) {
      const value = String(listed[i + 1]);
      let urls: string[] = [];
      try {
        urls = JSON.parse(value.slice(value.indexOf(" ") + 1));
      } catch { /* a node of another version: no URLs */ }
      live.push({ node: String(listed[i]), urls });
    }
    return { kept: kept !== 0, live };
  }

  protected async leave(): Promise<void> {
    await this.#client.hdel(this.#list, this.node);
    await this.#client.del(this.#entries(this.node));
    await this.#client.publish(this.changes, `${this.node} 0\n!`);
  }
}
