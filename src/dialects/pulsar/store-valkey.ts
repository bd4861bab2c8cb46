import type { Logger } from "../../core/logger.ts";
import { type Connection, connection } from "../../streams/valkey/connection.ts";
import { emptyState, type PulsarState } from "./store-backend.ts";
import { SharedStateBackend, type VersionedState } from "./store-shared.ts";

/** A change that lost the race this many times in a row gives up (the store is very busy). */
const MAX_ATTEMPTS = 50;

export interface ValkeyStateOptions {
  prefix: string;
  cluster: boolean;
  log: Logger;
}

/**
 * The state in Valkey, shared by every node on the server: the hash `<prefix>pulsar:state` with
 * fields `state` (the JSON document) and `version`. A change reads the hash under WATCH and
 * writes it in MULTI, retried when another node wrote in between, and publishes the new version
 * on `<prefix>pulsar:changes`; the other nodes reload (see SharedStateBackend).
 */
export class ValkeyStateBackend extends SharedStateBackend {
  readonly #db: Connection;
  readonly #subscriber: Connection;
  readonly #key: string;
  readonly #channel: string;

  private constructor(url: string, options: ValkeyStateOptions) {
    super(options.log);
    this.#key = `${options.prefix}pulsar:state`;
    this.#channel = `${options.prefix}pulsar:changes`;
    const connect = { maxRetriesPerRequest: 1, lazyConnect: false };
    this.#db = connection(url, options.cluster, connect);
    this.#subscriber = connection(url, options.cluster, connect);
  }

  static async open(url: string, options: ValkeyStateOptions): Promise<ValkeyStateBackend> {
    const backend = new ValkeyStateBackend(url, options);
    try {
      await backend.#subscriber.subscribe(backend.#channel);
    } catch (e) {
      await backend.close();
      throw e;
    }
    backend.#subscriber.on("message", (_channel: string, version: string) => {
      backend.heard(Number(version));
    });
    backend.startPolling();
    return backend;
  }

  protected async read(): Promise<VersionedState> {
    const [text, version] = await this.#db.hmget(this.#key, "state", "version");
    return {
      state: text ? JSON.parse(text) : emptyState(),
      version: Number(version ?? 0),
    };
  }

  protected async readVersion(): Promise<number> {
    return Number(await this.#db.hget(this.#key, "version") ?? 0);
  }

  protected async commit(
    change: (fresh: PulsarState) => Promise<void>,
    snapshot: () => PulsarState,
  ): Promise<number> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      await this.#db.watch(this.#key);
      const { state, version } = await this.read();
      await change(state);
      const next = version + 1;
      const done = await this.#db.multi()
        .hset(this.#key, "state", JSON.stringify(snapshot()), "version", String(next))
        .publish(this.#channel, String(next))
        .exec();
      if (done) return next;
    }
    throw new Error(`the Pulsar store in Valkey changed ${MAX_ATTEMPTS} times during one change`);
  }

  protected disconnect(): Promise<void> {
    this.#subscriber.disconnect();
    this.#db.disconnect();
    return Promise.resolve();
  }
}
