import type {
  Guard,
  RecordChange,
  RefreshRecord,
  TopicRecord,
  UserRecord,
} from "./record-types.ts";
import type { PulsarStateBackend } from "./store-backend.ts";
import { FileStateBackend } from "./store-file.ts";
import { grantKey, PulsarRecords, topicRow } from "./records.ts";
import { base64url, constantTimeEqual, hex, randomBytes, sha256 } from "../../auth/crypto.ts";

export {
  PERMISSIONS,
  type PulsarPermission,
  type TopicRecord,
  type UserRecord,
} from "./record-types.ts";

/**
 * The door's users, topics, grants, refresh tokens and logged-out tokens, kept in memory for
 * synchronous reads and stored by a backend one record per change: the data directory, or
 * PostgreSQL or Valkey shared by every node (see store-backend.ts) — password hashes stay out of
 * the message log, which any reader with a grant on it could replay. A change another node made
 * is applied to memory and announced like a local one.
 */
export class PulsarStore {
  readonly #backend: PulsarStateBackend;
  #records = new PulsarRecords();
  readonly #listeners = new Set<() => void>();

  private constructor(backend: PulsarStateBackend) {
    this.#backend = backend;
  }

  /** The store in the data directory (`DATA/pulsar/`). */
  static async open(dataDir: string): Promise<PulsarStore> {
    return await PulsarStore.on(await FileStateBackend.open(dataDir));
  }

  static async on(backend: PulsarStateBackend): Promise<PulsarStore> {
    const store = new PulsarStore(backend);
    // Listening first: what another node changes during the load is reloaded after it.
    backend.onRemoteChange({
      changed: (change) => {
        store.#records.apply(change);
        if (change.kind !== "refresh") store.#announce();
      },
      reloaded: (records) => {
        store.#records = records;
        store.#announce();
      },
    });
    store.#records = await backend.load();
    return store;
  }

  /** Called after every change of users, topics or grants (live connections are regranted). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Stores `changes` — none, answering false, when `guard` does not hold of the first one —
   * and announces them when they change access. The guard is checked on memory first (for the
   * data directory that decides; a shared backend checks it again on what is stored).
   */
  async #write(changes: RecordChange[], guard?: Guard, announce = true): Promise<boolean> {
    if (guard && !this.#records.holds(changes[0], guard)) return false;
    const apply = (done: RecordChange[]) => {
      for (const c of done) this.#records.apply(c);
    };
    if (!await this.#backend.write(changes, guard, apply)) return false;
    if (announce) this.#announce();
    return true;
  }

  #announce() {
    for (const l of this.#listeners) l();
  }

  // Users

  user(id: string): UserRecord | undefined {
    return this.#records.users.get(id);
  }

  userByName(name: string): UserRecord | undefined {
    const id = this.#records.byName.get(name);
    return id === undefined ? undefined : this.#records.users.get(id);
  }

  users(): UserRecord[] {
    return [...this.#records.users.values()];
  }

  /** Undefined when the username is taken. */
  async createUser(
    fields: Pick<UserRecord, "username" | "email" | "hashed_password" | "permissions">,
  ): Promise<UserRecord | undefined> {
    const user: UserRecord = {
      user_id: crypto.randomUUID(),
      ...fields,
      is_active: true,
      created_at: new Date().toISOString(),
    };
    const done = await this.#write([{ kind: "user", key: user.user_id, value: user }], "absent");
    return done ? user : undefined;
  }

  async updateUser(
    id: string,
    patch: Partial<Pick<UserRecord, "email" | "hashed_password" | "permissions" | "is_active">>,
  ): Promise<UserRecord | undefined> {
    const user = this.#records.users.get(id);
    if (!user) return undefined;
    const value = { ...user, ...patch };
    return await this.#write([{ kind: "user", key: id, value }], "present") ? value : undefined;
  }

  /** Also drops the user's grants and revokes the user's refresh tokens. */
  deleteUser(id: string): Promise<boolean> {
    const changes: RecordChange[] = [{ kind: "user", key: id }];
    for (const t of this.#records.topics.values()) {
      if (Object.hasOwn(t.grants, id)) {
        changes.push({ kind: "grant", key: grantKey(t.topic_name, id) });
      }
    }
    for (const r of this.#records.refresh.values()) {
      if (r.user_id === id && !r.revoked) changes.push(revoked(r));
    }
    return this.#write(changes, "present");
  }

  ownedTopics(userId: string): string[] {
    return this.topics().filter((t) => t.owner_id === userId).map((t) => t.topic_name);
  }

  // Topics

  topic(name: string): TopicRecord | undefined {
    return this.#records.topics.get(name);
  }

  topics(): TopicRecord[] {
    return [...this.#records.topics.values()];
  }

  /** Undefined when a topic of that name exists. */
  async createTopic(
    fields: Pick<TopicRecord, "topic_name" | "owner_id" | "is_public" | "description">,
    firstSeq: number,
  ): Promise<TopicRecord | undefined> {
    const value = {
      topic_id: crypto.randomUUID(),
      ...fields,
      created_at: new Date().toISOString(),
      first_seq: firstSeq,
    };
    const name = fields.topic_name;
    const done = await this.#write([{ kind: "topic", key: name, value }], "absent");
    return done ? this.topic(name) : undefined;
  }

  async updateTopic(
    name: string,
    patch: Partial<Pick<TopicRecord, "is_public" | "description">>,
  ): Promise<TopicRecord | undefined> {
    const topic = this.topic(name);
    if (!topic) return undefined;
    const value = { ...topicRow(topic), ...patch };
    return await this.#write([{ kind: "topic", key: name, value }], "present")
      ? this.topic(name)
      : undefined;
  }

  /** Also drops its grants. */
  deleteTopic(name: string): Promise<boolean> {
    const changes: RecordChange[] = [{ kind: "topic", key: name }];
    for (const userId of Object.keys(this.topic(name)?.grants ?? {})) {
      changes.push({ kind: "grant", key: grantKey(name, userId) });
    }
    return this.#write(changes, "present");
  }

  /**
   * False when the user holds a grant already (or the topic is gone). The topic is looked up by
   * name: the record the caller holds may predate another node's change.
   */
  grant(topic: TopicRecord, userId: string): Promise<boolean> {
    const key = grantKey(topic.topic_name, userId);
    return this.#write([{ kind: "grant", key, value: new Date().toISOString() }], "absent");
  }

  /** False when the user held no grant. */
  revoke(topic: TopicRecord, userId: string): Promise<boolean> {
    return this.#write([{ kind: "grant", key: grantKey(topic.topic_name, userId) }], "present");
  }

  // Refresh tokens and logged-out access tokens

  /** A new refresh token's wire form, `jti.secret`. */
  async issueRefresh(userId: string, lifetimeMs: number, parent?: string): Promise<string> {
    const jti = crypto.randomUUID();
    const secret = base64url(randomBytes(32));
    const value: RefreshRecord = {
      jti,
      user_id: userId,
      secret_hash: hex(await sha256(secret)),
      parent_jti: parent ?? null,
      expires_at: Date.now() + lifetimeMs,
      revoked: false,
    };
    await this.#write([{ kind: "refresh", key: jti, value }], undefined, false);
    await this.#prune();
    return `${jti}.${secret}`;
  }

  /**
   * Uses a refresh token up (rotation): its user id, or undefined when it is unknown, expired,
   * revoked or its secret is wrong. A rotated token shown again revokes its whole chain: it was
   * stolen, or the legitimate holder's next refresh will fail and say so. Spending is guarded
   * (`unrevoked`), so of two nodes spending one token at once one wins and the other revokes.
   */
  async consumeRefresh(wire: string): Promise<{ userId: string; jti: string } | undefined> {
    const record = await this.#refreshOf(wire);
    if (!record || record.expires_at < Date.now()) return undefined;
    if (await this.#write([revoked(record)], "unrevoked", false)) {
      return { userId: record.user_id, jti: record.jti };
    }
    await this.#revokeChain(record);
    return undefined;
  }

  async revokeRefresh(wire: string): Promise<void> {
    const record = await this.#refreshOf(wire);
    if (record) await this.#revokeChain(record);
  }

  /** The stored token of a wire token whose secret matches. */
  async #refreshOf(wire: string): Promise<RefreshRecord | undefined> {
    const dot = wire.indexOf(".");
    const known = dot > 0 ? this.#records.refresh.get(wire.slice(0, dot)) : undefined;
    if (!known || !await secretMatches(known, wire.slice(dot + 1))) return undefined;
    return known;
  }

  async #revokeChain(record: RefreshRecord) {
    const all = this.#records.refresh;
    let root = record;
    while (root.parent_jti && all.has(root.parent_jti)) root = all.get(root.parent_jti)!;
    const chain = new Set([root.jti]);
    for (let grew = true; grew;) {
      grew = false;
      for (const r of all.values()) {
        if (r.parent_jti && chain.has(r.parent_jti) && !chain.has(r.jti)) {
          chain.add(r.jti);
          grew = true;
        }
      }
    }
    const changes = [...chain].map((jti) => all.get(jti)!).filter((r) => !r.revoked).map(revoked);
    if (changes.length) await this.#write(changes, undefined, false);
  }

  async deny(jti: string, exp: number): Promise<void> {
    await this.#write([{ kind: "denied", key: jti, value: exp }]);
    await this.#prune();
  }

  isDenied(jti: string): boolean {
    return this.#records.denied.has(jti);
  }

  /**
   * Removes the refresh tokens and logged-out ids that expired, so they stay as many as are
   * live: run after each new one (every node of a shared store may run it; removing is idempotent).
   */
  async #prune(): Promise<void> {
    const gone = this.#records.expired(Date.now());
    if (gone.length) await this.#write(gone, undefined, false);
  }

  close(): Promise<void> {
    return this.#backend.close();
  }
}

/** The write that marks a refresh token spent or revoked. */
const revoked = (r: RefreshRecord): RecordChange => ({
  kind: "refresh",
  key: r.jti,
  value: { ...r, revoked: true },
});

const secretMatches = async (record: RefreshRecord, secret: string) =>
  await constantTimeEqual(hex(await sha256(secret)), record.secret_hash);
