import { createHash } from "node:crypto";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { randomId } from "../../core/ids.ts";
import { isConnectionError, openPool, redactUrl } from "../../connectors/postgres/connect.ts";
import { PgListener } from "../../connectors/postgres/listener.ts";
import { parsePurgeNotice } from "../purge-notice.ts";
import { requireSchema } from "../../connectors/postgres/migrations.ts";
import type { Logger } from "../../core/logger.ts";
import type { StreamEngine, StreamListener } from "../../core/stream-engine.ts";
import type { RetentionPolicy } from "../durable-stream.ts";
import { tooManyNamespaces, trimByCountAndAge } from "../shared-stream.ts";
import type { ClusterEngine, NodeChannelOptions } from "../node-channels.ts";
import { PostgresConsumerStore } from "./consumer-store.ts";
import { PostgresNodeChannels } from "./node-channels.ts";
import { PostgresStream } from "./postgres-stream.ts";
import { StreamQueries } from "./queries.ts";
import { CONSUMERS_CHANNEL, CREATED_CHANNEL, STREAMS_SCHEMA } from "./schema.ts";
import { SharedNamespaces } from "../shared-namespaces.ts";

export interface PostgresEngineOptions {
  /** postgres:// URL. */
  url: string;
  /** How long a dedupe key is remembered, ms (0 = dedupe off). */
  dedupeWindowMs: number;
  retention: RetentionPolicy;
  /** How often each followed namespace's top is read, whatever the doorbell says, ms. */
  pollIntervalMs: number;
  /** Most namespaces in the engine; creating one more fails with `limit_exceeded` (0 = none). */
  maxNamespaces?: number;
  log?: Logger;
}

/** The doorbell channel of a namespace (schema.ts catbus_stream_channel). */
const channelOf = (name: string) => `catbus_s_${createHash("md5").update(name).digest("hex")}`;

/**
 * The PostgreSQL stream engine: every node of a cluster shares one stream per namespace in the
 * tables of schema.ts. Appends go through catbus_publish (which applications may call from SQL
 * too); each node LISTENs on the doorbells of the namespaces it has open, reads what follows its
 * watermark when one rings, and polls every `pollIntervalMs` and after every reconnect, since
 * PostgreSQL drops notifications while a listener is away.
 */
export class PostgresEngine implements StreamEngine, ClusterEngine {
  readonly #options: PostgresEngineOptions;
  readonly #queries: StreamQueries;
  readonly #listener: PgListener;
  readonly #namespaces = new SharedNamespaces<PostgresStream>();
  readonly #byChannel = new Map<string, PostgresStream>();
  #consumers?: PostgresConsumerStore;
  #nodes?: PostgresNodeChannels;
  readonly #node = randomId(12);
  readonly #timer: ReturnType<typeof setInterval>;
  /** The last statement on the pool reached PostgreSQL. */
  #reachable = true;
  #polling = false;

  private constructor(options: PostgresEngineOptions) {
    this.#options = options;
    this.#queries = new StreamQueries(openPool(options.url, "catbus streams", { max: 8 }));
    this.#listener = new PgListener(options.url, "catbus doorbells", {
      onNotification: (channel, payload) => this.#notified(channel, payload),
      onLost: () => this.#lost("doorbells"),
      onReconnect: () => this.#poll(),
    });
    this.#timer = setInterval(() => this.#poll(), options.pollIntervalMs);
  }

  /** Connects and checks the schema, or fails with `unavailable` naming the URL. */
  static async connect(options: PostgresEngineOptions): Promise<PostgresEngine> {
    const engine = new PostgresEngine(options);
    try {
      await requireSchema(engine.#queries.sql, STREAMS_SCHEMA);
      await engine.#listener.start();
      await engine.#listener.listen(CREATED_CHANNEL);
    } catch (e) {
      await engine.close();
      if (e instanceof CatbusError) throw e;
      throw new CatbusError(
        ErrorCode.Unavailable,
        `cannot reach PostgreSQL at ${redactUrl(options.url)} (--database-url): ` +
          (e as Error).message,
        { cause: e },
      );
    }
    await engine.#maintain();
    return engine;
  }

  #warn(message: string, fields: Record<string, unknown>): void {
    this.#options.log?.("warn", message, fields);
  }

  #lost(role: string): void {
    if (!this.#reachable) return;
    this.#reachable = false;
    this.#warn(
      "lost the connection to PostgreSQL; publishes fail with unavailable until it is back",
      {
        role,
        url: redactUrl(this.#options.url),
      },
    );
  }

  /** A statement failed: a connection error makes the engine unavailable until a poll succeeds. */
  #failed(e: unknown): void {
    if (isConnectionError(e)) this.#lost("streams");
  }

  #notified(channel: string, payload: string): void {
    if (channel === CREATED_CHANNEL) {
      return this.#namespaces.announced(payload);
    }
    if (channel === CONSUMERS_CHANNEL) return this.#consumers?.announced(payload);
    const stream = this.#byChannel.get(channel);
    const purge = parsePurgeNotice(payload);
    if (purge) stream?.heardPurge(purge.channel, purge.throughSeq);
    else stream?.rang();
  }

  available(): boolean {
    return this.#reachable && this.#listener.connected;
  }

  watchList(created: (name: string) => void): void {
    this.#namespaces.watch(created);
  }

  /** This node's inbox and registry entries in this database (see PostgresNodeChannels). */
  async nodeChannels(options: NodeChannelOptions): Promise<PostgresNodeChannels> {
    const nodes = new PostgresNodeChannels({
      ...options,
      sql: this.#queries.sql,
      url: this.#options.url,
      node: this.#node,
    });
    this.#nodes = nodes;
    await nodes.start();
    return nodes;
  }

  /**
   * Durable consumers' states in these tables, with a lease per consumer: an advisory lock on a
   * session of the consumer store's own (see ConsumerLeases).
   */
  async consumerStore(intervalMs: number): Promise<PostgresConsumerStore> {
    const store = await PostgresConsumerStore.open(this.#options.url, intervalMs);
    await this.#listener.listen(CONSUMERS_CHANNEL);
    return this.#consumers = store;
  }

  async list(): Promise<string[]> {
    return await this.#queries.namespaces();
  }

  /** Opens a namespace's stream; the first open's listener is the one it keeps. */
  open(name: string, listener: StreamListener): Promise<PostgresStream> {
    return this.#namespaces.open(name, (fromBase) => this.#open(name, listener, fromBase));
  }

  async #open(name: string, listener: StreamListener, fromBase: boolean): Promise<PostgresStream> {
    const max = this.#options.maxNamespaces ?? 0;
    // Checked before it is made (nodes creating at once may each make one past the limit).
    if (max) {
      const names = await this.#queries.namespaces();
      if (!names.includes(name) && names.length >= max) {
        throw tooManyNamespaces(name, max);
      }
    }
    // Listened to before the head is read: nothing committed after it is missed.
    const channel = channelOf(name);
    await this.#listener.listen(channel);
    const head = await this.#queries.head(name);
    const stream = new PostgresStream(
      name,
      this.#queries,
      listener,
      {
        dedupeWindowMs: this.#options.dedupeWindowMs,
        available: () => this.available(),
        failed: (e) => this.#failed(e),
        warn: (message, fields) => this.#warn(message, fields),
      },
      head,
      fromBase,
    );
    this.#byChannel.set(channel, stream);
    return stream;
  }

  /** Reads the followed namespaces' tops in one statement; the fallback for lost doorbells. */
  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const streams = [...this.#byChannel.values()];
      const found = await this.#queries.peek(streams.map((s) => s.name));
      if (!this.#reachable) {
        this.#reachable = true;
        this.#options.log?.("info", "connected to PostgreSQL again", {});
      }
      for (const stream of streams) {
        stream.polled(found.get(stream.name)).catch((e) => {
          this.#failed(e);
          this.#warn("checking a stream's head failed", {
            namespace: stream.name,
            error: String(e),
          });
        });
      }
    } catch (e) {
      this.#failed(e);
    } finally {
      this.#polling = false;
    }
  }

  async #maintain(): Promise<void> {
    const { maxAgeMs } = this.#options.retention;
    try {
      const { dropped } = await this.#queries.maintain(
        maxAgeMs > 0 ? Date.now() - maxAgeMs : undefined,
      );
      if (dropped) {
        for (const stream of this.#byChannel.values()) await stream.refreshFirst();
      }
    } catch (e) {
      this.#failed(e);
      this.#warn("partition maintenance failed; rows go to the default partition meanwhile", {
        error: String(e),
      });
    }
  }

  /**
   * Partitions (made ahead; dropped when wholly older than the age limit), then count and age
   * limits per namespace, exactly (DELETE of the rows before the cutoff).
   */
  async applyRetention(now = Date.now()): Promise<void> {
    await this.#maintain();
    await trimByCountAndAge(this.#byChannel.values(), this.#options.retention, now);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#byChannel.clear();
    this.#namespaces.clear();
    await this.#consumers?.close();
    await this.#nodes?.close();
    await this.#listener.close();
    await this.#queries.sql.end({ timeout: 1 });
  }
}
