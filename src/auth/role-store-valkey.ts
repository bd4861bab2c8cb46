import type { Cluster, Redis } from "iovalkey";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { Grant } from "./grants.ts";
import {
  newRole,
  notFound,
  resolveRoleKey,
  type Role,
  type RoleStore,
  sameGrant,
} from "./role-store.ts";

/** Tries of one change when other writers changed the roles meanwhile. */
const MAX_TRIES = 20;

/**
 * Roles in Valkey, for several nodes (`--engine valkey`): one hash `PREFIX roles` (token hash →
 * the role as JSON) that every node and the CLI read and write. A change is made under `WATCH`
 * (so concurrent writers never lose one) and announced on `PREFIX roles:changed`; watchers hear
 * it at once, and reread everything after a reconnect (a change made meanwhile is not missed).
 */
export class ValkeyRoleStore implements RoleStore {
  readonly #connect: () => Redis | Cluster;
  readonly #key: string;
  readonly #channel: string;
  readonly #client: Redis | Cluster;
  readonly #watchers = new Set<Redis | Cluster>();
  /** Changes run one at a time: a WATCH holds for its connection, not for one caller. */
  #changing: Promise<unknown> = Promise.resolve();

  /** `connect` makes a connection to the server (or cluster) that connects by itself. */
  constructor(connect: () => Redis | Cluster, prefix: string) {
    this.#connect = connect;
    this.#key = `${prefix}roles`;
    this.#channel = `${prefix}roles:changed`;
    this.#client = connect();
    this.#client.on("error", () => {}); // commands fail with the reason
  }

  async create(name: string): Promise<{ token: string; role: Role }> {
    const { token, role } = await newRole(name);
    const hash = role.hash;
    await this.#call(async () => {
      await this.#client.hset(this.#key, hash, JSON.stringify(role));
      await this.#client.publish(this.#channel, hash);
    });
    return { token, role };
  }

  async find(tokenOrId: string): Promise<Role | undefined> {
    const roles = await this.#read();
    const key = await this.#resolve(roles, tokenOrId);
    return key ? roles[key] : undefined;
  }

  async list(): Promise<Role[]> {
    return Object.values(await this.#read()).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  addGrants(tokenOrId: string, grants: Grant[]): Promise<Role> {
    return this.#change(tokenOrId, (role) => {
      for (const g of grants) if (!role.grants.some((x) => sameGrant(x, g))) role.grants.push(g);
      return role;
    });
  }

  removeGrants(tokenOrId: string, grants: Grant[]): Promise<Role> {
    return this.#change(tokenOrId, (role) => {
      role.grants = role.grants.filter((x) => !grants.some((g) => sameGrant(x, g)));
      return role;
    });
  }

  delete(tokenOrId: string): Promise<Role> {
    return this.#change(tokenOrId, () => undefined);
  }

  watch(onChange: () => void): () => void {
    const sub = this.#connect();
    sub.on("error", () => {});
    sub.on("message", () => onChange());
    // Also after a reconnect: changes made while it was away were not heard.
    sub.on("ready", () => onChange());
    sub.subscribe(this.#channel).catch(() => {});
    this.#watchers.add(sub);
    return () => {
      this.#watchers.delete(sub);
      sub.disconnect();
    };
  }

  close(): void {
    for (const sub of this.#watchers) sub.disconnect();
    this.#watchers.clear();
    this.#client.disconnect();
  }

  /** Edits one role under WATCH, retried while others change the roles; undefined deletes it. */
  #change(tokenOrId: string, edit: (role: Role) => Role | undefined): Promise<Role> {
    const change = this.#changing.then(() => this.#changeNow(tokenOrId, edit));
    this.#changing = change.catch(() => {});
    return change;
  }

  async #changeNow(tokenOrId: string, edit: (role: Role) => Role | undefined): Promise<Role> {
    return await this.#call(async () => {
      for (let tries = 0; tries < MAX_TRIES; tries++) {
        await this.#client.watch(this.#key);
        const roles = await this.#read();
        const key = await this.#resolve(roles, tokenOrId);
        if (!key) {
          await this.#client.unwatch();
          throw notFound(tokenOrId.startsWith("role-") ? "token" : `"${tokenOrId}"`);
        }
        const role = roles[key];
        const edited = edit({ ...role, grants: [...role.grants] });
        const tx = this.#client.multi();
        if (edited) {
          tx.hset(
            this.#key,
            key,
            JSON.stringify({ ...edited, updatedAt: new Date().toISOString() }),
          );
        } else tx.hdel(this.#key, key);
        tx.publish(this.#channel, key);
        if (await tx.exec()) return edited ?? role;
      }
      throw new CatbusError(
        ErrorCode.Unavailable,
        "the roles kept changing while this change was made; try again",
      );
    });
  }

  async #read(): Promise<Record<string, Role>> {
    const raw = await this.#call(() => this.#client.hgetall(this.#key));
    const roles: Record<string, Role> = {};
    for (const [hash, json] of Object.entries(raw)) roles[hash] = JSON.parse(json);
    return roles;
  }

  #resolve(roles: Record<string, Role>, tokenOrId: string) {
    return resolveRoleKey(tokenOrId, (h) => h in roles, () => Object.keys(roles));
  }

  /** Runs a command, turning a connection failure into `unavailable`. */
  async #call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (e instanceof CatbusError) throw e;
      throw new CatbusError(
        ErrorCode.Unavailable,
        `the role store in Valkey cannot be reached: ${(e as Error).message}; retry`,
        { cause: e },
      );
    }
  }
}
