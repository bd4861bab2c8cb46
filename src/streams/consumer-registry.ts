import type { Broker, Subscriber } from "../core/broker.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { BusMessage } from "../core/message.ts";
import type { Namespace } from "../core/namespace.ts";
import { REPLY_TO_HEADER } from "../../client/shared/reply-subjects.ts";
import { namespaceOf } from "../../client/shared/subject.ts";
import { CoalescedWriter } from "./coalesced-writer.ts";
import type { ConsumerConfig } from "../../client/shared/messages.ts";
import { sameDelivery } from "./consumer-config.ts";
import {
  Consumer,
  type ConsumerRemote,
  type ConsumerState,
  type DeadLetterReason,
} from "./consumer.ts";
import type { Logger } from "../core/logger.ts";

/** Where consumer states are kept between restarts (DATA/consumers/ on disk). */
export interface ConsumerStore {
  list(): Promise<ConsumerState[]>;
  save(state: ConsumerState): Promise<void>;
  remove(name: string): Promise<void>;
}

/**
 * Several nodes on one store: which node runs each consumer. Its lease holder delivers; the
 * others keep their members waiting and take over when the lease is free (its holder died or
 * has no members left), going on from the state the holder saved.
 */
export interface ConsumerLeases {
  /** How often each node renews (or tries to take) the leases its members need. */
  readonly intervalMs: number;
  /** Takes or renews the consumer's lease: "taken" (newly), "kept", or held "elsewhere". */
  hold(name: string): Promise<"taken" | "kept" | "elsewhere">;
  release(name: string): Promise<void>;
  /** The consumer's newest saved state (undefined once deleted). */
  load(name: string): Promise<ConsumerState | undefined>;
  /** Calls `changed` when a node created or deleted a consumer. */
  watch(changed: (name: string) => void): void;
}

/**
 * Serves members across nodes (consumer-relay.ts): told which leases this node holds, and
 * given what a leased consumer's members here do while another node holds its lease.
 */
export interface ConsumerPeers {
  holding(name: string, on: boolean): void;
  remote(name: string): ConsumerRemote;
}

interface Entry {
  consumer: Consumer;
  watcher: Subscriber;
  writer?: CoalescedWriter;
  /** Run under a lease (shared with other nodes). */
  leased: boolean;
  /** This node holds the lease (always true for a consumer that is not leased). */
  holding: boolean;
}

/** Headers a dead letter carries besides the original message's own. */
export const DEAD_LETTER_HEADERS = {
  reason: "catbus-dlq-reason",
  consumer: "catbus-dlq-consumer",
  channel: "catbus-dlq-channel",
  seq: "catbus-dlq-seq",
  id: "catbus-dlq-id",
  attempts: "catbus-dlq-attempts",
} as const;

/**
 * The stored message's headers a dead letter keeps: not `reply_to` (a dead letter is no request)
 * nor anything passing for the server's own `catbus-dlq-*`.
 */
function ownHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name !== REPLY_TO_HEADER && !name.startsWith("catbus-dlq-")) kept[name] = value;
  }
  return kept;
}

/** The server's durable consumers by name: creation, lookup, persistence and deletion. */
export class ConsumerRegistry {
  readonly #broker: Broker;
  readonly #store?: ConsumerStore;
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry>();
  /** Names being created, so two concurrent creates of one name make one consumer. */
  readonly #creating = new Map<string, Promise<Consumer>>();

  /** Most consumers at once; creating one more fails with `limit_exceeded` (0 = no limit). */
  readonly #maxConsumers: number;
  readonly #leases?: ConsumerLeases;
  readonly #peers?: ConsumerPeers;
  #leaseTimer?: ReturnType<typeof setInterval>;
  #leasing = false;

  constructor(
    broker: Broker,
    store: ConsumerStore | undefined,
    log: Logger,
    options: { maxConsumers?: number; leases?: ConsumerLeases; peers?: ConsumerPeers } = {},
  ) {
    this.#broker = broker;
    this.#store = store;
    this.#log = log;
    this.#maxConsumers = options.maxConsumers ?? 0;
    this.#leases = options.leases;
    this.#peers = options.peers;
  }

  /** Restores every saved consumer (after the broker loaded its namespaces). */
  async load(): Promise<void> {
    for (const state of await this.#store?.list() ?? []) await this.#restore(state);
    const leases = this.#leases;
    if (!leases) return;
    leases.watch((name) => this.#changedElsewhere(name));
    this.#leaseTimer = setInterval(() => this.#renewLeases(), leases.intervalMs);
  }

  async #restore(state: ConsumerState): Promise<void> {
    const ns = await this.#broker.createNamespace(namespaceOf(state.config.pattern));
    this.#start(ns, await this.#current(ns, state));
  }

  /** `state`, or a fresh start when its stream began a new epoch since it was saved. */
  async #current(ns: Namespace, state: ConsumerState): Promise<ConsumerState> {
    if (ns.epoch === state.epoch) return state;
    this.#log("warn", "stream was reset; consumer starts over", { consumer: state.config.name });
    const cursor = await this.#broker.startSeq(ns, state.config.pattern, state.config.from);
    return { ...state, epoch: ns.epoch, cursor, pending: [] };
  }

  /** Another node created or deleted a consumer. */
  async #changedElsewhere(name: string): Promise<void> {
    try {
      const state = await this.#leases!.load(name);
      const entry = this.#entries.get(name);
      if (!state && entry) this.#stop(name, entry);
      else if (state && !entry && !this.#creating.has(name)) await this.#restore(state);
    } catch (e) {
      this.#log("warn", "cannot follow a consumer another node changed", {
        consumer: name,
        error: String(e),
      });
    }
  }

  /**
   * Keeps the leases of the consumers that have members here, takes free ones (going on from
   * the state their last holder saved) and lets go of those whose members all left.
   */
  async #renewLeases(): Promise<void> {
    if (this.#leasing) return;
    this.#leasing = true;
    const leases = this.#leases!;
    try {
      for (const [name, entry] of this.#entries) {
        if (!entry.leased) continue;
        if (entry.consumer.info().members === 0) {
          if (entry.holding) {
            this.#hold(name, entry, false);
            await leases.release(name);
          }
          continue;
        }
        const held = await leases.hold(name);
        if (held === "taken") {
          const ns = this.#broker.namespace(namespaceOf(entry.consumer.config.pattern));
          const state = await leases.load(name);
          this.#hold(name, entry, true);
          if (ns && state) entry.consumer.restore(await this.#current(ns, state));
          else entry.consumer.wake();
        } else this.#hold(name, entry, held === "kept");
      }
    } catch (e) {
      this.#log("warn", "consumer leases could not be renewed", { error: String(e) });
    } finally {
      this.#leasing = false;
    }
  }

  #hold(name: string, entry: Entry, on: boolean): void {
    if (entry.holding === on) return;
    entry.holding = on;
    this.#peers?.holding(name, on);
  }

  get(name: string): Consumer | undefined {
    return this.#entries.get(name)?.consumer;
  }

  /** The consumer, or a not_found error that says how to create it. */
  require(name: string): Consumer {
    const consumer = this.get(name);
    if (consumer) return consumer;
    throw new CatbusError(
      ErrorCode.NotFound,
      `no consumer named "${name}"; create it first (client.createConsumer or ` +
        `catbus consumer add ${name} PATTERN)`,
    );
  }

  list(): Consumer[] {
    return [...this.#entries.values()].map((e) => e.consumer);
  }

  /**
   * Creates the consumer, or returns the existing one when its delivery settings are the same;
   * a different configuration under a taken name is a conflict. The namespace must exist.
   * A consumer made with `persist: false` lives until deleted or the server stops (the Bus
   * dialect's per-connection consumers).
   */
  async create(config: ConsumerConfig, options: { persist?: boolean } = {}): Promise<Consumer> {
    const existing = this.get(config.name);
    if (existing) return this.#same(existing, config);
    let creating = this.#creating.get(config.name);
    if (!creating) {
      this.#checkRoom(config.name);
      creating = this.#create(config, options.persist ?? true).finally(() =>
        this.#creating.delete(config.name)
      );
      this.#creating.set(config.name, creating);
      return await creating;
    }
    return this.#same(await creating, config);
  }

  async delete(name: string): Promise<void> {
    const entry = this.#entries.get(name);
    if (!entry) this.require(name);
    this.#stop(name, entry!);
    if (entry!.writer) {
      await entry!.writer.idle();
      await this.#store?.remove(name);
    }
  }

  #stop(name: string, entry: Entry): void {
    this.#entries.delete(name);
    if (entry.leased) this.#hold(name, entry, false);
    entry.consumer.close();
    this.#broker.unwatch(entry.consumer.config.pattern, entry.watcher);
  }

  /** Stops every consumer, waits for their last states to be saved, lets go of their leases. */
  async close(): Promise<void> {
    clearInterval(this.#leaseTimer);
    for (const entry of this.#entries.values()) {
      entry.consumer.close();
      this.#broker.unwatch(entry.consumer.config.pattern, entry.watcher);
    }
    await Promise.all([...this.#entries.values()].map((e) => e.writer?.idle()));
    for (const [name, entry] of this.#entries) {
      if (entry.holding && entry.leased) await this.#leases!.release(name).catch(() => {});
    }
    this.#entries.clear();
  }

  #checkRoom(name: string) {
    const max = this.#maxConsumers;
    if (!max || this.#entries.size + this.#creating.size < max) return;
    throw new CatbusError(
      ErrorCode.LimitExceeded,
      `consumer "${name}" would be one more than --max-consumers ${max}; delete unused ones ` +
        `(catbus consumer delete NAME) or raise the limit`,
    );
  }

  #same(existing: Consumer, config: ConsumerConfig): Consumer {
    if (sameDelivery(existing.config, config)) return existing;
    throw new CatbusError(
      ErrorCode.Conflict,
      `consumer "${config.name}" exists with another configuration; delete it first ` +
        `(catbus consumer delete ${config.name}) or choose another name`,
    );
  }

  async #create(config: ConsumerConfig, persist: boolean): Promise<Consumer> {
    const ns = this.#broker.namespace(namespaceOf(config.pattern));
    if (!ns) {
      throw new CatbusError(
        ErrorCode.NotFound,
        `namespace "${namespaceOf(config.pattern)}" does not exist; publish to it first`,
      );
    }
    const cursor = await this.#broker.startSeq(ns, config.pattern, config.from);
    const state = { config, epoch: ns.epoch, cursor, pending: [] };
    const consumer = this.#start(ns, state, persist);
    if (persist) await this.#store?.save(consumer.state());
    return consumer;
  }

  #start(ns: Namespace, state: ConsumerState, persist = true): Consumer {
    const store = persist ? this.#store : undefined;
    const name = state.config.name;
    let writer: CoalescedWriter | undefined;
    const leased = persist && this.#leases !== undefined;
    // Not yet held: the lease is taken once members join (see #renewLeases).
    const entry = { leased, holding: !leased } as Entry;
    const consumer: Consumer = new Consumer({
      read: (seq) => this.#broker.read(ns, seq),
      deadLetter: (m, reason, attempts) => this.#deadLetter(consumer, m, reason, attempts),
      acked: (seq) => this.#broker.acked(ns.name, seq),
      changed: () => writer?.request() ?? Promise.resolve(),
      log: this.#log,
      now: Date.now,
      mayDeliver: () => entry.holding,
      remote: leased ? this.#peers?.remote(name) : undefined,
    }, state);
    if (store) writer = new CoalescedWriter(() => store.save(consumer.state()));
    const watcher: Subscriber = { deliver: (m) => consumer.published(m) };
    this.#broker.watch(state.config.pattern, watcher);
    this.#entries.set(name, Object.assign(entry, { consumer, watcher, writer }));
    return consumer;
  }

  async #deadLetter(
    consumer: Consumer,
    m: BusMessage,
    reason: DeadLetterReason,
    attempts: number,
  ): Promise<void> {
    const h = DEAD_LETTER_HEADERS;
    await this.#broker.publish({
      channel: consumer.config.deadLetter,
      payload: m.payload,
      binary: m.binary,
      headers: {
        ...ownHeaders(m.headers),
        [h.reason]: reason,
        [h.consumer]: consumer.name,
        [h.channel]: m.channel,
        [h.seq]: String(m.seq),
        [h.id]: m.id,
        [h.attempts]: String(attempts),
      },
      // A dead letter sent again after a crash is not stored twice.
      key: `dlq:${consumer.name}:${consumer.epoch}:${m.seq}`,
    });
  }
}
