import type { RedisOptions } from "iovalkey";
import { Cluster } from "iovalkey";
import { type Connection, connection, nodeOptions } from "./connection.ts";
import { ShardedSubscriber } from "./sharded-subscriber.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { randomId } from "../../core/ids.ts";
import type { Logger } from "../../core/logger.ts";
import type { StreamEngine, StreamListener } from "../../core/stream-engine.ts";
import type { RetentionPolicy } from "../durable-stream.ts";
import { tooManyNamespaces, trimByCountAndAge } from "../shared-stream.ts";
import { ValkeyCommands } from "./commands.ts";
import { createdChannel, NamespaceKeys, namespacesKey } from "./keys.ts";
import { parseLiveBatch } from "./live-batch.ts";
import { isPurgeNotice, parsePurgeNotice } from "../purge-notice.ts";
import { ValkeyStream } from "./valkey-stream.ts";
import { ValkeyConsumerStore } from "./consumer-store.ts";
import type { ClusterEngine, NodeChannelOptions } from "../node-channels.ts";
import { ValkeyNodeChannels } from "./node-channels.ts";
import { SharedNamespaces } from "../shared-namespaces.ts";

export interface ValkeyEngineOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Starts every key and channel, so several deployments (or test runs) share one server. */
  prefix: string;
  /** `url` is a node of a Redis Cluster. */
  cluster?: boolean;
  /** How long a dedupe key is remembered, ms (0 = dedupe off). */
  dedupeWindowMs: number;
  retention: RetentionPolicy;
  /** How often each namespace's head is compared with what this node saw, ms. */
  checkIntervalMs: number;
  /** Most namespaces in the engine; creating one more fails with `limit_exceeded` (0 = none). */
  maxNamespaces?: number;
  log?: Logger;
}

/** The URL without its password, for messages. */
const shown = (url: string) => url.replace(/\/\/[^@/]*@/, "//…@");

/**
 * The Valkey (or Redis) stream engine: every node of a cluster shares one stream per namespace.
 * Appends go through one script per batch (scripts.ts); each node follows the namespaces it has
 * open through their live channels, and compares with the stream's head every
 * `checkIntervalMs` and after every reconnect, so a lost publication is read back from the
 * stream.
 */
export class ValkeyEngine implements StreamEngine, ClusterEngine {
  readonly #options: ValkeyEngineOptions;
  readonly #commands: ValkeyCommands;
  /** Pub/sub: the namespaces' live channels (unless sharded) and the node-wide channels. */
  readonly #sub: Connection;
  /** On a Redis Cluster: the namespaces' live channels, on the shards that own them. */
  readonly #shards?: ShardedSubscriber;
  readonly #namespaces = new SharedNamespaces<ValkeyStream>();
  readonly #byLive = new Map<string, ValkeyStream>();
  #consumers?: ValkeyConsumerStore;
  #nodes?: ValkeyNodeChannels;
  /** This node's id in the cluster (leases, node channels). */
  readonly #node = randomId(12);
  readonly #timer: ReturnType<typeof setInterval>;
  #closing = false;

  private constructor(options: ValkeyEngineOptions, client: Connection, sub: Connection) {
    this.#options = options;
    this.#commands = new ValkeyCommands(client, client instanceof Cluster);
    this.#sub = sub;
    const message = (channel: Uint8Array, message: Uint8Array) =>
      this.#message(new TextDecoder().decode(channel), message);
    sub.on("messageBuffer", message);
    if (client instanceof Cluster) {
      this.#shards = new ShardedSubscriber(client, {
        ...nodeOptions(options.url),
        maxRetriesPerRequest: 0,
      });
      this.#shards.on(message, (shard) => this.#watchConnection(shard, "live channels (shard)"));
    }
    this.#watchConnection(client, "commands");
    this.#watchConnection(sub, "live channels");
    this.#timer = setInterval(() => this.#checkAll(), options.checkIntervalMs);
  }

  /** Connects, or fails with `unavailable` naming the URL. */
  static async connect(options: ValkeyEngineOptions): Promise<ValkeyEngine> {
    const common: RedisOptions = { maxRetriesPerRequest: 0 };
    const cluster = options.cluster ?? false;
    // Commands fail at once while disconnected (publishes answer `unavailable`), and an append
    // whose answer was lost is never sent twice.
    const client = connection(options.url, cluster, {
      ...common,
      connectionName: "catbus",
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
    });
    const sub = connection(options.url, cluster, { ...common, connectionName: "catbus-live" });
    try {
      await client.connect();
      await sub.connect();
      await sub.subscribe(createdChannel(options.prefix));
    } catch (e) {
      client.disconnect();
      sub.disconnect();
      throw new CatbusError(
        ErrorCode.Unavailable,
        `cannot reach Valkey at ${shown(options.url)} (--valkey-url): ${(e as Error).message}`,
        { cause: e },
      );
    }
    return new ValkeyEngine(options, client, sub);
  }

  #watchConnection(connection: Connection, role: string): void {
    const log = this.#options.log;
    let up = true;
    connection.on("error", () => {}); // reported once per outage by "close" below
    connection.on("close", () => {
      if (!up || this.#closing) return;
      up = false;
      log?.(
        "warn",
        "lost the connection to Valkey; publishes fail with unavailable until it is back",
        {
          role,
          url: shown(this.#options.url),
        },
      );
    });
    connection.on("ready", () => {
      if (up) return;
      up = true;
      log?.("info", "connected to Valkey again", { role });
      this.#checkAll();
      this.#nodes?.resync();
    });
  }

  /**
   * Durable consumers' states in this Valkey, with a lease per consumer that lives `leaseMs`
   * unless its holder renews it (see ConsumerLeases).
   */
  async consumerStore(leaseMs: number): Promise<ValkeyConsumerStore> {
    const store = new ValkeyConsumerStore(
      this.#commands.client,
      this.#options.prefix,
      this.#node,
      leaseMs,
    );
    await this.#sub.subscribe(store.channel);
    return this.#consumers = store;
  }

  /** This node's inbox and registry entries in this Valkey (see ValkeyNodeChannels). */
  async nodeChannels(options: NodeChannelOptions): Promise<ValkeyNodeChannels> {
    const nodes = new ValkeyNodeChannels(this.#commands.client, this.#sub, {
      ...options,
      prefix: this.#options.prefix,
      node: this.#node,
    });
    this.#nodes = nodes;
    await nodes.start();
    return nodes;
  }

  #message(channel: string, message: Uint8Array): void {
    if (this.#nodes?.message(channel, message)) return;
    if (channel === this.#consumers?.channel) {
      return this.#consumers.announced(new TextDecoder().decode(message));
    }
    if (channel === createdChannel(this.#options.prefix)) {
      const name = new TextDecoder().decode(message);
      return this.#namespaces.announced(name);
    }
    const stream = this.#byLive.get(channel);
    if (!stream) return;
    if (isPurgeNotice(message)) {
      const notice = parsePurgeNotice(new TextDecoder().decode(message));
      return notice && stream.heardPurge(notice.channel, notice.throughSeq);
    }
    try {
      stream.live(parseLiveBatch(message));
    } catch (e) {
      this.#warn("a live publication could not be read; the stream is read instead", {
        channel,
        error: String(e),
      });
      stream.check().catch(() => {});
    }
  }

  #warn(message: string, fields: Record<string, unknown>): void {
    this.#options.log?.("warn", message, fields);
  }

  available(): boolean {
    return this.#commands.client.status === "ready" && this.#sub.status === "ready" &&
      (this.#shards?.ready ?? true);
  }

  watchList(created: (name: string) => void): void {
    this.#namespaces.watch(created);
  }

  async list(): Promise<string[]> {
    return (await this.#commands.client.smembers(namespacesKey(this.#options.prefix))).sort();
  }

  /** Opens a namespace's stream; the first open's listener is the one it keeps. */
  open(name: string, listener: StreamListener): Promise<ValkeyStream> {
    return this.#namespaces.open(name, (fromBase) => this.#open(name, listener, fromBase));
  }

  async #open(name: string, listener: StreamListener, fromBase: boolean): Promise<ValkeyStream> {
    const { prefix, dedupeWindowMs, retention } = this.#options;
    const keys = new NamespaceKeys(prefix, name);
    const client = this.#commands.client;
    const list = namespacesKey(prefix);
    const max = this.#options.maxNamespaces ?? 0;
    // Checked before it is added (nodes creating at once may each add one past the limit).
    if (max && !(await client.sismember(list, name)) && (await client.scard(list)) >= max) {
      throw tooManyNamespaces(name, max);
    }
    // Subscribed before the head is read: nothing published after it is missed.
    await (this.#shards ? this.#shards.subscribe(keys.live) : this.#sub.subscribe(keys.live));
    if (await client.sadd(list, name)) {
      await client.publish(createdChannel(prefix), name);
    }
    const head = await this.#commands.ensure(keys, randomId(8), { epoch: "", seq: 0 });
    const stream = new ValkeyStream(
      this.#commands,
      keys,
      listener,
      {
        dedupeWindowMs,
        maxLen: retention.maxMessages,
        warn: (message, fields) => this.#warn(message, fields),
        // The engine lost the list with the data: this namespace is on it again.
        renewed: () => void client.sadd(namespacesKey(prefix), name).catch(() => {}),
      },
      head,
      fromBase,
    );
    this.#byLive.set(keys.live, stream);
    return stream;
  }

  #checkAll(): void {
    if (!this.available()) return;
    for (const stream of this.#byLive.values()) {
      stream.check().catch((e) =>
        this.#warn("checking a stream's head failed", {
          stream: stream.keys.stream,
          error: String(e),
        })
      );
    }
  }

  /** Count and age limits (exact; every append also trims to about the count). */
  async applyRetention(now = Date.now()): Promise<void> {
    await trimByCountAndAge(this.#byLive.values(), this.#options.retention, now);
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#timer);
    await this.#nodes?.close();
    this.#shards?.close();
    this.#byLive.clear();
    this.#namespaces.clear();
    for (const connection of [this.#commands.client, this.#sub]) {
      await connection.quit().catch(() => connection.disconnect());
    }
  }
}
