import type { Logger } from "../../core/logger.ts";
import { type Connection, connection } from "../../streams/valkey/connection.ts";
import { changesOf, PulsarRecords } from "./records.ts";
import type { Guard, PulsarState, RecordChange, RecordKind } from "./record-types.ts";
import { SharedStateBackend } from "./store-shared.ts";

/** Loaded in this order: a grant needs its topic in memory. */
const KINDS: RecordKind[] = ["user", "topic", "grant", "refresh", "denied"];
/** The script's KEYS, in its order: a hash per kind of record, and usernames → user ids. */
const HASHES = ["user", "name", "topic", "grant", "refresh", "denied"] as const;
/** Records per script call when migrating the old single document. */
const MIGRATE_BATCH = 500;

/**
 * The script that writes the Pulsar door's records in Valkey: one hash per kind of record (a
 * field per record, its JSON), plus `names` (username → user id) for the username's uniqueness.
 * KEYS: the hashes of users, names, topics, grants, refresh tokens, logged-out ids (one hash tag,
 * one slot). ARGV: the change channel, the guard of the first record ('' for none, or 'fill':
 * write each record only where none is, for a migration), then per record its kind, key, value
 * ('' removes it) and notice. Returns 1 when written, 0 when the guard failed. Each record that
 * changed has its notice published, so the other nodes reload it.
 */
const WRITE_RECORDS = `
local hashes = { user = KEYS[1], topic = KEYS[3], grant = KEYS[4], refresh = KEYS[5], denied = KEYS[6] }
local names = KEYS[2]
local channel, guard = ARGV[1], ARGV[2]

local function holds(kind, key, value)
  local stored = redis.call('HGET', hashes[kind], key)
  if guard == 'present' then return stored ~= false end
  if guard == 'unrevoked' then return stored ~= false and not cjson.decode(stored).revoked end
  if stored then return false end
  if kind == 'user' then return redis.call('HEXISTS', names, cjson.decode(value).username) == 0 end
  if kind == 'grant' then return redis.call('HEXISTS', KEYS[3], string.match(key, '^[^/]*')) == 1 end
  return true
end

if guard ~= '' and guard ~= 'fill' and not holds(ARGV[3], ARGV[4], ARGV[5]) then return 0 end
for i = 3, #ARGV, 4 do
  local kind, key, value, notice = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local hash = hashes[kind]
  if guard ~= 'fill' or redis.call('HEXISTS', hash, key) == 0 then
    local changed = true
    if kind == 'user' then
      local old = redis.call('HGET', hash, key)
      if old then redis.call('HDEL', names, cjson.decode(old).username) end
      if value ~= '' then redis.call('HSET', names, cjson.decode(value).username, key) end
    end
    if value == '' then
      changed = redis.call('HDEL', hash, key) == 1
    else
      redis.call('HSET', hash, key, value)
    end
    if changed then redis.call('PUBLISH', channel, notice) end
  end
end
return 1
`;

type Scripted = Connection & { catbusPulsarWrite: (...args: string[]) => Promise<number> };

export interface ValkeyStateOptions {
  prefix: string;
  cluster: boolean;
  log: Logger;
}

/**
 * The records in Valkey, shared by every node on the server: a hash per kind of record,
 * `<prefix>{pulsar}:user` and so on, a field per record (see WRITE_RECORDS). A change
 * is one script call, which checks its guard (for a new user, that the username is free) and
 * writes its records at once, publishing each on `<prefix>{pulsar}:changes`; the other nodes reload
 * that record (see SharedStateBackend). The document earlier versions kept whole in
 * `<prefix>pulsar:state` is moved into the hashes by the first node to open them.
 */
export class ValkeyStateBackend extends SharedStateBackend {
  readonly #db: Scripted;
  readonly #subscriber: Connection;
  readonly #keys: string[];
  readonly #oldKey: string;
  readonly #channel: string;
  readonly #log: Logger;

  private constructor(url: string, options: ValkeyStateOptions) {
    super(options.log);
    this.#log = options.log;
    const tagged = `${options.prefix}{pulsar}`;
    this.#keys = HASHES.map((k) => `${tagged}:${k}`);
    this.#oldKey = `${options.prefix}pulsar:state`;
    this.#channel = `${tagged}:changes`;
    const connect = { maxRetriesPerRequest: 1, lazyConnect: false };
    const db = connection(url, options.cluster, connect);
    db.defineCommand("catbusPulsarWrite", { lua: WRITE_RECORDS, numberOfKeys: 6 });
    this.#db = db as Scripted;
    this.#subscriber = connection(url, options.cluster, connect);
  }

  static async open(url: string, options: ValkeyStateOptions): Promise<ValkeyStateBackend> {
    const backend = new ValkeyStateBackend(url, options);
    try {
      await backend.#migrate();
      await backend.#subscriber.subscribe(backend.#channel);
    } catch (e) {
      await backend.close();
      throw e;
    }
    backend.#subscriber.on("message", (_channel: string, notice: string) => backend.heard(notice));
    // Every later "ready" is a reconnect (resubscribed by the client): notices may be lost.
    backend.#subscriber.on("ready", () => backend.reconnected());
    return backend;
  }

  /**
   * Moves the old single document's records into the hashes, never over a record already
   * there (another node may have migrated and changed it), then removes the document.
   */
  async #migrate(): Promise<void> {
    const text = await this.#db.hget(this.#oldKey, "state");
    if (!text) return;
    const changes = changesOf(JSON.parse(text) as PulsarState);
    for (let i = 0; i < changes.length; i += MIGRATE_BATCH) {
      await this.#run(changes.slice(i, i + MIGRATE_BATCH), "fill");
    }
    await this.#db.del(this.#oldKey);
    this.#log("info", "pulsar store: moved the single state document into per-record hashes", {
      records: changes.length,
    });
  }

  protected async readAll(): Promise<PulsarRecords> {
    const pipeline = this.#db.pipeline();
    for (const kind of KINDS) pipeline.hgetall(this.#key(kind));
    const results = await pipeline.exec();
    const records = new PulsarRecords();
    KINDS.forEach((kind, i) => {
      const [error, fields] = results![i];
      if (error) throw error;
      for (const [key, text] of Object.entries(fields as Record<string, string>)) {
        records.apply({ kind, key, value: JSON.parse(text) } as RecordChange);
      }
    });
    return records;
  }

  protected async readRecord(kind: RecordKind, key: string): Promise<RecordChange> {
    const text = await this.#db.hget(this.#key(kind), key);
    return { kind, key, value: text === null ? undefined : JSON.parse(text) } as RecordChange;
  }

  protected store(changes: RecordChange[], guard: Guard | undefined): Promise<boolean> {
    return this.#run(changes, guard ?? "");
  }

  async #run(changes: RecordChange[], guard: Guard | "fill" | ""): Promise<boolean> {
    const args = changes.flatMap((c) => [
      c.kind,
      c.key,
      c.value === undefined ? "" : JSON.stringify(c.value),
      this.notice(c),
    ]);
    return await this.#db.catbusPulsarWrite(...this.#keys, this.#channel, guard, ...args) === 1;
  }

  #key(kind: RecordKind): string {
    return this.#keys[HASHES.indexOf(kind)];
  }

  protected disconnect(): Promise<void> {
    this.#subscriber.disconnect();
    this.#db.disconnect();
    return Promise.resolve();
  }
}
