import { type Cluster, Redis, type RedisOptions } from "iovalkey";

/** A range of slots and the primary that serves it (from CLUSTER SLOTS). */
interface SlotRange {
  from: number;
  to: number;
  node: string;
}

/**
 * Sharded pub/sub on a Redis Cluster (Redis 7's `SSUBSCRIBE`): a shard channel is served only
 * by the shard that owns its slot, so a publication crosses no cluster bus. iovalkey's cluster
 * client sends every subscription to one node, which answers MOVED for the others' slots; this
 * keeps one subscriber connection per primary and subscribes each channel on the one that owns
 * it (each connection subscribes its channels again after a reconnect). A slot that moves to
 * another primary is found on the next subscription that fails with MOVED, or after the
 * connection drops; meanwhile the engine's periodic check reads what the channel missed.
 */
export class ShardedSubscriber {
  readonly #cluster: Cluster;
  readonly #options: RedisOptions;
  readonly #connections = new Map<string, Redis>();
  /** Channel → the primary it is subscribed on. */
  readonly #channels = new Map<string, string>();
  #slots: SlotRange[] = [];
  #message: (channel: Uint8Array, body: Uint8Array) => void = () => {};
  #watch: (connection: Redis) => void = () => {};

  /** `options`: how to reach a node (password, TLS), as the cluster client does. */
  constructor(cluster: Cluster, options: RedisOptions) {
    this.#cluster = cluster;
    this.#options = options;
  }

  /** Hands every shard message to `message`; `watch` sees each new connection (its events). */
  on(message: (channel: Uint8Array, body: Uint8Array) => void, watch: (c: Redis) => void): void {
    this.#message = message;
    this.#watch = watch;
  }

  /** True while every subscriber connection is up. */
  get ready(): boolean {
    for (const c of this.#connections.values()) if (c.status !== "ready") return false;
    return true;
  }

  async subscribe(channel: string): Promise<void> {
    if (this.#channels.has(channel)) return;
    for (let attempt = 0;; attempt++) {
      if (attempt > 0 || this.#slots.length === 0) await this.#readSlots();
      const node = await this.#owner(channel);
      try {
        await (await this.#connection(node)).ssubscribe(channel);
        this.#channels.set(channel, node);
        return;
      } catch (e) {
        // The slot moved since the map was read: read it again, once.
        if (attempt > 0 || !/MOVED|ASK/.test(String(e))) throw e;
      }
    }
  }

  async #owner(channel: string): Promise<string> {
    const slot = Number(await this.#cluster.call("CLUSTER", "KEYSLOT", channel));
    const range = this.#slots.find((r) => r.from <= slot && slot <= r.to);
    if (!range) throw new Error(`no primary serves slot ${slot} of "${channel}"`);
    return range.node;
  }

  async #readSlots(): Promise<void> {
    const slots = await this.#cluster.call("CLUSTER", "SLOTS") as [
      number,
      number,
      [string, number, ...unknown[]],
    ][];
    this.#slots = slots.map(([from, to, [host, port]]) => ({ from, to, node: `${host}:${port}` }));
  }

  async #connection(node: string): Promise<Redis> {
    let connection = this.#connections.get(node);
    if (connection) return connection;
    const [host, port] = [
      node.slice(0, node.lastIndexOf(":")),
      node.slice(node.lastIndexOf(":") + 1),
    ];
    connection = new Redis({
      ...this.#options,
      host,
      port: Number(port),
      connectionName: "catbus-live-shard",
      lazyConnect: true,
    });
    connection.on("smessageBuffer", (channel: Uint8Array, body: Uint8Array) => {
      this.#message(channel, body);
    });
    this.#connections.set(node, connection);
    this.#watch(connection);
    await connection.connect();
    return connection;
  }

  close(): void {
    for (const c of this.#connections.values()) c.disconnect();
    this.#connections.clear();
    this.#channels.clear();
  }
}
