import { join } from "node:path";
import { writeFileAtomic } from "../../log/atomic-file.ts";
import { CoalescedWriter } from "../../streams/coalesced-writer.ts";
import { base64url, constantTimeEqual, hex, randomBytes, sha256 } from "../../auth/crypto.ts";

export const PERMISSIONS = ["admin", "read", "write"] as const;
export type PulsarPermission = typeof PERMISSIONS[number];

export interface UserRecord {
  user_id: string;
  username: string;
  email: string | null;
  hashed_password: string;
  is_active: boolean;
  created_at: string;
  permissions: PulsarPermission[];
}

export interface TopicRecord {
  topic_id: string;
  topic_name: string;
  owner_id: string;
  is_public: boolean;
  description: string | null;
  created_at: string;
  /** Granted users and when (user id → ISO time); read with Object.hasOwn (ids come from URLs). */
  grants: Record<string, string>;
  /**
   * The first sequence of this life of the topic: messages of an earlier topic of the same
   * name (deleted) come before it and are never shown again.
   */
  first_seq: number;
}

/** A refresh token as stored: the wire token is `jti.secret`; only the secret's hash is kept. */
interface RefreshRecord {
  jti: string;
  user_id: string;
  secret_hash: string;
  parent_jti: string | null;
  expires_at: number;
  revoked: boolean;
}

interface State {
  version: 1;
  users: UserRecord[];
  topics: TopicRecord[];
  refresh: RefreshRecord[];
  /** Logged-out access tokens: jti → expiry (s); dropped once expired. */
  denied: Record<string, number>;
}

const FILE = "state.json";

/**
 * The door's users, topics, grants, refresh tokens and logged-out tokens, in the data
 * directory (`DATA/pulsar/state.json`, mode 600: it holds password hashes), rewritten
 * atomically on every change; a change is answered once it is on disk. They are small and
 * change rarely, so one file read at start and kept in memory is enough — and keeps password
 * hashes out of the message log, which any reader with a grant on it could replay.
 */
export class PulsarStore {
  readonly #path: string;
  readonly #users = new Map<string, UserRecord>();
  readonly #byName = new Map<string, string>();
  readonly #topics = new Map<string, TopicRecord>();
  readonly #refresh = new Map<string, RefreshRecord>();
  readonly #denied = new Map<string, number>();
  readonly #writer: CoalescedWriter;
  readonly #listeners = new Set<() => void>();

  private constructor(path: string) {
    this.#path = path;
    this.#writer = new CoalescedWriter(() => this.#write());
  }

  static async open(dataDir: string): Promise<PulsarStore> {
    const dir = join(dataDir, "pulsar");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new PulsarStore(join(dir, FILE));
    let text: string | undefined;
    try {
      text = await Deno.readTextFile(store.#path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (text !== undefined) {
      let state: State;
      try {
        state = JSON.parse(text);
      } catch (e) {
        throw new Error(
          `${store.#path} is not valid JSON (${(e as Error).message}); restore it from a backup`,
        );
      }
      for (const u of state.users) store.#putUser(u);
      for (const t of state.topics) store.#topics.set(t.topic_name, t);
      for (const r of state.refresh) store.#refresh.set(r.jti, r);
      for (const [jti, exp] of Object.entries(state.denied)) store.#denied.set(jti, exp);
    }
    return store;
  }

  /** Called after every change of users, topics or grants (live connections are regranted). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #commit(accessChanged = true): Promise<void> {
    await this.#writer.request();
    if (accessChanged) { for (const l of this.#listeners) l(); }
  }

  async #write() {
    const now = Date.now();
    for (const [jti, exp] of this.#denied) if (exp * 1000 < now) this.#denied.delete(jti);
    for (const [jti, r] of this.#refresh) if (r.expires_at < now) this.#refresh.delete(jti);
    const state: State = {
      version: 1,
      users: [...this.#users.values()],
      topics: [...this.#topics.values()],
      refresh: [...this.#refresh.values()],
      denied: Object.fromEntries(this.#denied),
    };
    await writeFileAtomic(this.#path, new TextEncoder().encode(JSON.stringify(state)), {
      mode: 0o600,
    });
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
  async createUser(
    fields: Pick<UserRecord, "username" | "email" | "hashed_password" | "permissions">,
  ): Promise<UserRecord | undefined> {
    if (this.#byName.has(fields.username)) return undefined;
    const user: UserRecord = {
      user_id: crypto.randomUUID(),
      ...fields,
      is_active: true,
      created_at: new Date().toISOString(),
    };
    this.#putUser(user);
    await this.#commit();
    return user;
  }

  async updateUser(
    id: string,
    patch: Partial<Pick<UserRecord, "email" | "hashed_password" | "permissions" | "is_active">>,
  ): Promise<UserRecord | undefined> {
    const user = this.#users.get(id);
    if (!user) return undefined;
    Object.assign(user, patch);
    await this.#commit();
    return user;
  }

  async deleteUser(id: string): Promise<boolean> {
    const user = this.#users.get(id);
    if (!user) return false;
    this.#users.delete(id);
    this.#byName.delete(user.username);
    for (const t of this.#topics.values()) delete t.grants[id];
    for (const r of this.#refresh.values()) if (r.user_id === id) r.revoked = true;
    await this.#commit();
    return true;
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
  async createTopic(
    fields: Pick<TopicRecord, "topic_name" | "owner_id" | "is_public" | "description">,
    firstSeq: number,
  ): Promise<TopicRecord | undefined> {
    if (this.#topics.has(fields.topic_name)) return undefined;
    const topic: TopicRecord = {
      topic_id: crypto.randomUUID(),
      ...fields,
      created_at: new Date().toISOString(),
      grants: {},
      first_seq: firstSeq,
    };
    this.#topics.set(topic.topic_name, topic);
    await this.#commit();
    return topic;
  }

  async updateTopic(
    name: string,
    patch: Partial<Pick<TopicRecord, "is_public" | "description">>,
  ): Promise<TopicRecord | undefined> {
    const topic = this.#topics.get(name);
    if (!topic) return undefined;
    Object.assign(topic, patch);
    await this.#commit();
    return topic;
  }

  async deleteTopic(name: string): Promise<boolean> {
    if (!this.#topics.delete(name)) return false;
    await this.#commit();
    return true;
  }

  /** False when the user holds a grant already. */
  async grant(topic: TopicRecord, userId: string): Promise<boolean> {
    if (Object.hasOwn(topic.grants, userId)) return false;
    topic.grants[userId] = new Date().toISOString();
    await this.#commit();
    return true;
  }

  /** False when the user held no grant. */
  async revoke(topic: TopicRecord, userId: string): Promise<boolean> {
    if (!Object.hasOwn(topic.grants, userId)) return false;
    delete topic.grants[userId];
    await this.#commit();
    return true;
  }

  // Refresh tokens and logged-out access tokens

  /** A new refresh token's wire form, `jti.secret`. */
  async issueRefresh(userId: string, lifetimeMs: number, parent?: string): Promise<string> {
    const jti = crypto.randomUUID();
    const secret = base64url(randomBytes(32));
    this.#refresh.set(jti, {
      jti,
      user_id: userId,
      secret_hash: hex(await sha256(secret)),
      parent_jti: parent ?? null,
      expires_at: Date.now() + lifetimeMs,
      revoked: false,
    });
    await this.#commit(false);
    return `${jti}.${secret}`;
  }

  /**
   * Uses a refresh token up (rotation): its user id, or undefined when it is unknown, expired,
   * revoked or its secret is wrong. A rotated token shown again revokes its whole chain: it was
   * stolen, or the legitimate holder's next refresh will fail and say so.
   */
  async consumeRefresh(wire: string): Promise<{ userId: string; jti: string } | undefined> {
    const dot = wire.indexOf(".");
    const record = dot > 0 ? this.#refresh.get(wire.slice(0, dot)) : undefined;
    if (!record || record.expires_at < Date.now()) return undefined;
    if (!await secretMatches(record, wire.slice(dot + 1))) return undefined;
    if (record.revoked) {
      this.#revokeChain(record);
      await this.#commit(false);
      return undefined;
    }
    record.revoked = true;
    await this.#commit(false);
    return { userId: record.user_id, jti: record.jti };
  }

  async revokeRefresh(wire: string): Promise<void> {
    const dot = wire.indexOf(".");
    const record = dot > 0 ? this.#refresh.get(wire.slice(0, dot)) : undefined;
    if (!record || !await secretMatches(record, wire.slice(dot + 1))) return;
    this.#revokeChain(record);
    await this.#commit(false);
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
    this.#denied.set(jti, exp);
    await this.#commit();
  }

  isDenied(jti: string): boolean {
    return this.#denied.has(jti);
  }

  close(): Promise<void> {
    return this.#writer.idle();
  }
}

const secretMatches = async (record: RefreshRecord, secret: string) =>
  await constantTimeEqual(hex(await sha256(secret)), record.secret_hash);
