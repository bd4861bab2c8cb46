import type { Connection } from "./connection.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import type { ConsumerState } from "../consumer.ts";
import type { ConsumerLeases, ConsumerStore } from "../consumer-registry.ts";

/** KEYS[1] lease, ARGV[1] this node, ARGV[2] ms: 2 = taken now, 1 = kept, 0 = held elsewhere. */
const HOLD = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 2
`;

/** KEYS[1] lease, KEYS[2] state, ARGV[1] this node, ARGV[2] state: saved unless held elsewhere. */
const SAVE = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`;

/** KEYS[1] lease, ARGV[1] this node: lets go of it if this node holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`;

type Script = (...args: (string | number)[]) => Promise<number>;
type Scripted = Connection & { catbusHold: Script; catbusSave: Script; catbusRelease: Script };

/**
 * Durable consumers' states in Valkey, shared by the nodes, and the lease that says which node
 * runs each one (`SET NX PX`, renewed by its holder). A state is saved only by the lease holder
 * (or before anyone holds it: a new consumer), so a node that lost its lease cannot overwrite
 * what the next holder saved. Creations and deletions are announced on a channel.
 */
export class ValkeyConsumerStore implements ConsumerStore, ConsumerLeases {
  readonly intervalMs: number;
  readonly #client: Scripted;
  readonly #prefix: string;
  readonly #node: string;
  readonly #leaseMs: number;
  #changed?: (name: string) => void;

  constructor(client: Connection, prefix: string, node: string, leaseMs: number) {
    client.defineCommand("catbusHold", { lua: HOLD, numberOfKeys: 1 });
    client.defineCommand("catbusSave", { lua: SAVE, numberOfKeys: 2 });
    client.defineCommand("catbusRelease", { lua: RELEASE, numberOfKeys: 1 });
    this.#client = client as Scripted;
    this.#prefix = prefix;
    this.#node = node;
    this.#leaseMs = leaseMs;
    this.intervalMs = Math.max(50, Math.floor(leaseMs / 3));
  }

  /** The channel creations and deletions are announced on. */
  get channel(): string {
    return `${this.#prefix}consumers:changed`;
  }

  #keys(name: string) {
    const tagged = `${this.#prefix}{consumer:${encodeURIComponent(name)}}`;
    return { lease: `${tagged}:lease`, state: `${tagged}:state` };
  }

  get #list(): string {
    return `${this.#prefix}consumers`;
  }

  async list(): Promise<ConsumerState[]> {
    const states: ConsumerState[] = [];
    for (const name of await this.#client.smembers(this.#list)) {
      const state = await this.load(name);
      if (state) states.push(state);
    }
    return states;
  }

  async load(name: string): Promise<ConsumerState | undefined> {
    const json = await this.#client.get(this.#keys(name).state);
    return json ? JSON.parse(json) : undefined;
  }

  async save(state: ConsumerState): Promise<void> {
    const name = state.config.name;
    const keys = this.#keys(name);
    if (!await this.#client.catbusSave(keys.lease, keys.state, this.#node, JSON.stringify(state))) {
      throw new CatbusError(
        ErrorCode.Unavailable,
        `consumer "${name}" is run by another node now (this node lost its lease); the ` +
          "delivery will come again from there",
      );
    }
    if (await this.#client.sadd(this.#list, name)) await this.#client.publish(this.channel, name);
  }

  async remove(name: string): Promise<void> {
    const keys = this.#keys(name);
    await this.#client.del(keys.state, keys.lease);
    await this.#client.srem(this.#list, name);
    await this.#client.publish(this.channel, name);
  }

  async hold(name: string): Promise<"taken" | "kept" | "elsewhere"> {
    const held = await this.#client.catbusHold(this.#keys(name).lease, this.#node, this.#leaseMs);
    return held === 2 ? "taken" : held === 1 ? "kept" : "elsewhere";
  }

  async release(name: string): Promise<void> {
    await this.#client.catbusRelease(this.#keys(name).lease, this.#node);
  }

  watch(changed: (name: string) => void): void {
    this.#changed = changed;
  }

  /** A creation or deletion another node announced (routed here by the engine). */
  announced(name: string): void {
    this.#changed?.(name);
  }
}
