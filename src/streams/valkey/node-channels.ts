import { Buffer } from "node:buffer";
import type { Connection } from "./connection.ts";
import type { LiveNode, NodeChannels, RegistryListener } from "../node-channels.ts";
import { OwnEntries, RegistryMirror } from "../node-registry.ts";

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
export class ValkeyNodeChannels implements NodeChannels {
  readonly node: string;
  readonly #client: Scripted;
  readonly #sub: Connection;
  readonly #options: ValkeyNodeOptions;
  #advertised: string[];
  readonly #own: OwnEntries;
  readonly #others: RegistryMirror;
  readonly #receivers: ((from: string, body: Uint8Array) => void)[] = [];
  #urls: string[];
  #live: LiveNode[] = [];
  readonly #timer: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(client: Connection, sub: Connection, options: ValkeyNodeOptions) {
    client.defineCommand("catbusHeartbeat", { lua: HEARTBEAT, numberOfKeys: 2 });
    client.defineCommand("catbusEnter", { lua: ENTER, numberOfKeys: 1 });
    this.#client = client as Scripted;
    this.#sub = sub;
    this.#options = options;
    this.node = options.node;
    this.#advertised = [...options.urls];
    this.#urls = [...options.urls];
    this.#live = [{ node: options.node, urls: this.#urls }];
    this.#own = new OwnEntries(async ({ ops, all }) => {
      await this.#client.catbusEnter(
        this.#entries(this.node),
        this.changes,
        this.node,
        this.#options.ttlMs,
        ...(all ? ["*", ...all] : ops),
      );
    });
    this.#others = new RegistryMirror(async (node) => {
      const fields = await this.#client.hgetall(this.#entries(node));
      const entries = new Set(Object.keys(fields).filter((f) => f !== VERSION));
      return { version: Number(fields[VERSION] ?? 0), entries };
    });
    this.#timer = setInterval(() => this.#beat(), Math.max(50, Math.floor(options.ttlMs / 3)));
  }

  get #tag(): string {
    return `${this.#options.prefix}{nodes}`;
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
    await this.#beat();
  }

  /** Handles a pub/sub message the engine's subscription got; false when it is not one of ours. */
  message(channel: string, body: Uint8Array): boolean {
    if (channel === this.inbox()) {
      const end = body.indexOf(10);
      if (end > 0) this.#deliver(decoder.decode(body.subarray(0, end)), body.subarray(end + 1));
      return true;
    }
    if (channel !== this.changes) return false;
    const lines = decoder.decode(body).split("\n");
    const [node, version] = lines[0].split(" ");
    if (node !== this.node) this.#others.changed(node, Number(version), lines.slice(1));
    return true;
  }

  async send(to: string, body: Uint8Array): Promise<void> {
    const from = encoder.encode(this.node + "\n");
    const bytes = Buffer.alloc(from.length + body.length);
    bytes.set(from, 0);
    bytes.set(body, from.length);
    await this.#client.publish(this.inbox(to), bytes);
  }

  onMail(receive: (from: string, body: Uint8Array) => void): void {
    this.#receivers.push(receive);
  }

  #deliver(from: string, body: Uint8Array): void {
    for (const receive of this.#receivers) receive(from, body);
  }

  enter(entry: string, on: boolean): Promise<void> {
    return this.#own.enter(entry, on);
  }

  watch(listener: RegistryListener): void {
    this.#others.watch(listener);
  }

  urls(): readonly string[] {
    return this.#urls;
  }

  nodes(): readonly LiveNode[] {
    return this.#live;
  }

  advertise(urls: readonly string[]): Promise<void> {
    this.#advertised = [...urls];
    return this.#beat();
  }

  /** The engine is back: this node's set is written again, the others' are read again. */
  resync(): void {
    void this.#own.rewrite();
    void this.#beat().then(() => this.#others.reloadAll());
  }

  /** Renews this node's listing; learns which nodes are there and what they advertise. */
  async #beat(): Promise<void> {
    if (this.#closed) return;
    let reply: (string | number)[];
    try {
      reply = await this.#client.catbusHeartbeat(
        this.#list,
        this.#entries(this.node),
        this.node,
        JSON.stringify(this.#advertised),
        this.#options.ttlMs,
      ) as (string | number)[];
    } catch {
      return; // the engine is unreachable: its connection's watcher says so
    }
    const [kept, ...live] = reply;
    if ((kept === 0 && this.#own.size > 0) || this.#own.stale) void this.#own.rewrite();
    const nodes: LiveNode[] = [];
    const present = new Set<string>();
    for (let i = 0; i + 1 < live.length; i += 2) {
      const node = String(live[i]);
      const value = String(live[i + 1]);
      let urls: string[] = [];
      try {
        urls = JSON.parse(value.slice(value.indexOf(" ") + 1));
      } catch { /* a node of another version: no URLs */ }
      nodes.push({ node, urls });
      if (node !== this.node) present.add(node);
    }
    this.#live = nodes;
    this.#urls = nodes.flatMap((n) => n.urls);
    this.#others.present(present);
  }

  /** Leaves the registry (the others drop this node at once) and stops renewing. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#others.close();
    clearInterval(this.#timer);
    try {
      await this.#client.hdel(this.#list, this.node);
      await this.#client.del(this.#entries(this.node));
      await this.#client.publish(this.changes, `${this.node} 0\n!`);
    } catch { /* unreachable: the listing expires */ }
  }
}
