import type {
  PulsarState,
  PulsarStateBackend,
  RefreshRecord,
  TopicRecord,
  UserRecord,
} from "./store-backend.ts";
import { FileStateBackend } from "./store-file.ts";
import { base64url, constantTimeEqual, hex, randomBytes, sha256 } from "../../auth/crypto.ts";

export {
  PERMISSIONS,
  type PulsarPermission,
  type TopicRecord,
  type UserRecord,
} from "./store-backend.ts";

/**
 * The door's users, topics, grants, refresh tokens and logged-out tokens, kept in memory for
 * synchronous reads and stored by a backend: the data directory, or PostgreSQL or Valkey shared by
 * every node (see store-backend.ts). They are small and change rarely, so the whole state is one
 * document — and password hashes stay out of the message log, which any reader with a grant on it
 * could replay. A change another node made replaces the memory and is announced like a local one.
 */
export class PulsarStore {
  readonly #backend: PulsarStateBackend;
  readonly #users = new Map<string, UserRecord>();
  readonly #byName = new Map<string, string>();
  readonly #topics = new Map<string, TopicRecord>();
  readonly #refresh = new Map<string, RefreshRecord>();
  readonly #denied = new Map<string, number>();
  readonly #listeners = new Set<() => void>();

  private constructor(backend: PulsarStateBackend) {
    this.#backend = backend;
  }

  /** The store in the data directory (`DATA/pulsar/state.json`). */
  static async open(dataDir: string): Promise<PulsarStore> {
    return await PulsarStore.on(await FileStateBackend.open(dataDir));
  }

  static async on(backend: PulsarStateBackend): Promise<PulsarStore> {
    const store = new PulsarStore(backend);
    store.#load(await backend.load());
    backend.onRemoteChange((state) => {
      store.#load(state);
      store.#announce();
    });
    return store;
  }

  /** Called after every change of users, topics or grants (live connections are regranted). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #load(state: PulsarState) {
    for (const map of [this.#users, this.#byName, this.#topics, this.#refresh, this.#denied]) {
      map.clear();
    }
    for (const u of state.users) this.#putUser(u);
    for (const t of state.topics) this.#topics.set(t.topic_name, t);
    for (const r of state.refresh) this.#refresh.set(r.jti, r);
    for (const [jti, exp] of Object.entries(state.denied)) this.#denied.set(jti, exp);
  }

  #snapshot = (): PulsarState => {
    const now = Date.now();
    for (const [jti, exp] of this.#denied) if (exp * 1000 < now) this.#denied.delete(jti);
    for (const [jti, r] of this.#refresh) if (r.expires_at < now) this.#refresh.delete(jti);
    return {
      version: 1,
      users: [...this.#users.values()],
      topics: [...this.#topics.values()],
      refresh: [...this.#refresh.values()],
      denied: Object.fromEntries(this.#denied),
    };
  };

  /**
   * Runs `change` on the newest state and stores it, then announces it when access changed and
   * `change` did something (it answers false or undefined when it found nothing to do).
   */
  async #change<T>(change: () => T | Promise<T>, accessChanged = true): Promise<T> {
    let result!: T;
    await this.#backend.update(async (fresh) => {
      if (fresh) this.#load(fresh);
      result = await change();
    }, this.#snapshot);
    if (accessChanged && result !== false && result !== undefined) this.#announce();
    return result;
  }

  #announce() {
    for (const l of this.#listeners) l();
  }

  #putUser(u: UserRecord) {
    this.#users.set(u.user_id, u);
    this.#byName.set(u.username, u.user_id);
  }

  // Users

  user(id: string): UserRecord | undefined {
    return this.#users.get(id);
  }

  userByName(name: string): UserRecord | undefined {
    const id = this.#byName.get(name);
    return id === undefined ? undefined : this.#users.get(id);
  }

  users(): UserRecord[] {
    return [...this.#users.values()];
  }

  /** Undefined when the username is taken. */
  createUser(
    fields: Pick<UserRecord, "username" | "email" | "hashed_password" | "permissions">,
  ): Promise<UserRecord | undefined> {
    return this.#change(() => {
      if (this.#byName.has(fields.username)) return undefined;
      const user: UserRecord = {
        user_id: crypto.randomUUID(),
        ...fields,
        is_active: true,
        created_at: new Date().toISOString(),
      };
      this.#putUser(user);
      return user;
    });
  }

  updateUser(
    id: string,
    patch: Partial<Pick<UserRecord, "email" | "hashed_password" | "permissions" | "is_active">>,
  ): Promise<UserRecord | undefined> {
    return this.#change(() => {
      const user = this.#users.get(id);
      if (user) Object.assign(user, patch);
      return user;
    });
  }

  deleteUser(id: string): Promise<boolean> {
    return this.#change(() => {
      const user = this.#users.get(id);
      if (!user) return false;
      this.#users.delete(id);
      this.#byName.delete(user.username);
      for (const t of this.#topics.values()) delete t.grants[id];
      for (const r of this.#refresh.values()) if (r.user_id === id) r.revoked = true;
      return true;
    });
  }

  ownedTopics(userId: string): string[] {
    return [...this.#topics.values()].filter((t) => t.owner_id === userId).map((t) => t.topic_name);
  }

  // Topics

  topic(name: string): TopicRecord | undefined {
    return this.#topics.get(name);
  }

  topics(): TopicRecord[] {
    return [...this.#topics.values()];
  }

  /** Undefined when a topic of that name exists. */
  createTopic(
    fields: Pick<TopicRecord, "topic_name" | "owner_id" | "is_public" | "description">,
    firstSeq: number,
  ): Promise<TopicRecord | undefined> {
    return this.#change(() => {
      if (this.#topics.has(fields.topic_name)) return undefined;
      const topic: TopicRecord = {
        topic_id: crypto.randomUUID(),
        ...fields,
        created_at: new Date().toISOString(),
        grants: {},
        first_seq: firstSeq,
      };
      this.#topics.set(topic.topic_name, topic);
      return topic;
    });
  }

  updateTopic(
    name: string,
    patch: Partial<Pick<TopicRecord, "is_public" | "description">>,
  ): Promise<TopicRecord | undefined> {
    return this.#change(() => {
      const topic = this.#topics.get(name);
      if (topic) Object.assign(topic, patch);
      return topic;
    });
  }

  deleteTopic(name: string): Promise<boolean> {
    return this.#change(() => this.#topics.delete(name));
  }

  /**
   * False when the user holds a grant already. The topic is looked up again by name: the record
   * the caller holds may predate another node's change.
   */
  grant(topic: TopicRecord, userId: string): Promise<boolean> {
    return this.#change(() => {
      const grants = this.#topics.get(topic.topic_name)?.grants;
      if (!grants || Object.hasOwn(grants, userId)) return false;
      grants[userId] = new Date().toISOString();
      return true;
    });
  }

  /** False when the user held no grant. */
  revoke(topic: TopicRecord, userId: string): Promise<boolean> {
    return this.#change(() => {
      const grants = this.#topics.get(topic.topic_name)?.grants;
      if (!grants || !Object.hasOwn(grants, userId)) return false;
      delete grants[userId];
      return true;
    });
  }

  // Refresh tokens and logged-out access tokens

  /** A new refresh token's wire form, `jti.secret`. */
  async issueRefresh(userId: string, lifetimeMs: number, parent?: string): Promise<string> {
    const jti = crypto.randomUUID();
    const secret = base64url(randomBytes(32));
    const record: RefreshRecord = {
      jti,
      user_id: userId,
      secret_hash: hex(await sha256(secret)),
      parent_jti: parent ?? null,
      expires_at: Date.now() + lifetimeMs,
      revoked: false,
    };
    await this.#change(() => this.#refresh.set(jti, record), false);
    return `${jti}.${secret}`;
  }

  /**
   * Uses a refresh token up (rotation): its user id, or undefined when it is unknown, expired,
   * revoked or its secret is wrong. A rotated token shown again revokes its whole chain: it was
   * stolen, or the legitimate holder's next refresh will fail and say so.
   */
  async consumeRefresh(wire: string): Promise<{ userId: string; jti: string } | undefined> {
    const dot = wire.indexOf(".");
    const jti = wire.slice(0, dot);
    const known = dot > 0 ? this.#refresh.get(jti) : undefined;
    if (!known || !await secretMatches(known, wire.slice(dot + 1))) return undefined;
    return await this.#change(() => {
      const record = this.#refresh.get(jti);
      if (!record || record.expires_at < Date.now()) return undefined;
      if (record.revoked) {
        this.#revokeChain(record);
        return undefined;
      }
      record.revoked = true;
      return { userId: record.user_id, jti: record.jti };
    }, false);
  }

  async revokeRefresh(wire: string): Promise<void> {
    const dot = wire.indexOf(".");
    const jti = wire.slice(0, dot);
    const known = dot > 0 ? this.#refresh.get(jti) : undefined;
    if (!known || !await secretMatches(known, wire.slice(dot + 1))) return;
    await this.#change(() => {
      const record = this.#refresh.get(jti);
      if (record) this.#revokeChain(record);
    }, false);
  }

  #revokeChain(record: RefreshRecord) {
    let root = record;
    while (root.parent_jti && this.#refresh.has(root.parent_jti)) {
      root = this.#refresh.get(root.parent_jti)!;
    }
    const chain = new Set([root.jti]);
    for (let grew = true; grew;) {
      grew = false;
      for (const r of this.#refresh.values()) {
        if (r.parent_jti && chain.has(r.parent_jti) && !chain.has(r.jti)) {
          chain.add(r.jti);
          grew = true;
        }
      }
    }
    for (const jti of chain) this.#refresh.get(jti)!.revoked = true;
  }

  async deny(jti: string, exp: number): Promise<void> {
    await this.#change(() => this.#denied.set(jti, exp));
  }

  isDenied(jti: string): boolean {
    return this.#denied.has(jti);
  }

  close(): Promise<void> {
    return this.#backend.close();
  }
}

const secretMatches = async (record: RefreshRecord, secret: string) =>
  await constantTimeEqual(hex(await sha256(secret)), record.secret_hash);
