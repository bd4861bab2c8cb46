import type { Logger } from "../../core/logger.ts";
import { type Connection, connection } from "../../streams/valkey/connection.ts";
import { emptyState, type PulsarState, type PulsarStateBackend } from "./store-backend.ts";

/** The safety net for a lost message on the changes channel: the version is read this often. */
const POLL_MS = 1000;
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
 * on `<prefix>pulsar:changes`; the other nodes reload. Changes of this node run one at a time.
 */
export class ValkeyStateBackend implements PulsarStateBackend {
  readonly #db: Connection;
  readonly #subscriber: Connection;
  readonly #key: string;
  readonly #channel: string;
  readonly #log: Logger;
  #version = -1;
  #queue: Promise<unknown> = Promise.resolve();
  #listeners = new Set<(state: PulsarState) => void>();
  #poll?: ReturnType<typeof setInterval>;

  private constructor(url: string, options: ValkeyStateOptions) {
    this.#log = options.log;
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
      backend.#heard(Number(version));
    });
    backend.#poll = setInterval(() => backend.#checkVersion(), POLL_MS);
    return backend;
  }

  load(): Promise<PulsarState> {
    return this.#serial(async () => {
      const { state, version } = await this.#read(this.#db);
      this.#version = version;
      return state;
    });
  }

  update(
    change: (fresh: PulsarState | undefined) => Promise<void>,
    snapshot: () => PulsarState,
  ): Promise<void> {
    return this.#serial(async () => {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        await this.#db.watch(this.#key);
        const { state, version } = await this.#read(this.#db);
        await change(state);
        const next = version + 1;
        const done = await this.#db.multi()
          .hset(this.#key, "state", JSON.stringify(snapshot()), "version", String(next))
          .publish(this.#channel, String(next))
          .exec();
        if (done) {
          this.#version = next;
          return;
        }
      }
      throw new Error(`the Pulsar store in Valkey changed ${MAX_ATTEMPTS} times during one change`);
    });
  }

  onRemoteChange(listener: (state: PulsarState) => void): void {
    this.#listeners.add(listener);
  }

  async #read(db: Connection): Promise<{ state: PulsarState; version: number }> {
    const [text, version] = await db.hmget(this.#key, "state", "version");
    return {
      state: text ? JSON.parse(text) : emptyState(),
      version: Number(version ?? 0),
    };
  }

  #heard(version: number) {
    if (version <= this.#version) return;
    this.#serial(async () => {
      const { state, version } = await this.#read(this.#db);
      if (version === this.#version) return;
      this.#version = version;
      for (const l of this.#listeners) l(state);
    }).catch((e) => this.#log("warn", "pulsar store reload failed", { error: String(e) }));
  }

  async #checkVersion() {
    try {
      this.#heard(Number(await this.#db.hget(this.#key, "version") ?? 0));
    } catch (e) {
      this.#log("warn", "pulsar store unreachable", { error: String(e) });
    }
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    clearInterval(this.#poll);
    await this.#queue;
    this.#subscriber.disconnect();
    this.#db.disconnect();
  }
}
