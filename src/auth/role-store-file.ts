import { join } from "node:path";
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

interface RoleFile {
  version: 1;
  roles: Record<string, Role>;
}

const LOCK_STALE_MS = 10_000;

/**
 * The embedded role store: `roles.json` in the data directory, shared by `catbusd` and the
 * `catbus` CLI. Writers take a lock file, read, change and atomically replace the file (temp file,
 * fsync, rename), so concurrent CLI calls never lose an update and a reader never sees half a
 * file. The server polls the file's identity to see changes made by other processes.
 */
export class FileRoleStore implements RoleStore {
  readonly dataDir: string;
  readonly #path: string;
  readonly #lock: string;
  readonly #pollMs: number;

  constructor(dataDir: string, options: { pollMs?: number } = {}) {
    this.dataDir = dataDir;
    this.#path = join(dataDir, "roles.json");
    this.#lock = join(dataDir, "roles.lock");
    this.#pollMs = options.pollMs ?? 250;
  }

  async create(name: string): Promise<{ token: string; role: Role }> {
    const { token, role } = await newRole(name);
    const hash = role.hash;
    await this.#update((file) => {
      file.roles[hash] = role;
    });
    return { token, role };
  }

  async find(tokenOrId: string): Promise<Role | undefined> {
    const file = await this.#read();
    const key = await this.#key(file, tokenOrId);
    return key ? file.roles[key] : undefined;
  }

  async list(): Promise<Role[]> {
    return Object.values((await this.#read()).roles).sort((a, b) =>
      a.createdAt.localeCompare(b.createdAt)
    );
  }

  addGrants(tokenOrId: string, grants: Grant[]): Promise<Role> {
    return this.#change(tokenOrId, (role) => {
      for (const g of grants) {
        if (!role.grants.some((x) => sameGrant(x, g))) role.grants.push(g);
      }
    });
  }

  removeGrants(tokenOrId: string, grants: Grant[]): Promise<Role> {
    return this.#change(tokenOrId, (role) => {
      role.grants = role.grants.filter((x) => !grants.some((g) => sameGrant(x, g)));
    });
  }

  delete(tokenOrId: string): Promise<Role> {
    return this.#change(tokenOrId, (role, file) => {
      delete file.roles[role.hash];
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  watch(onChange: () => void): () => void {
    let stamp = this.#stamp();
    const timer = setInterval(() => {
      const now = this.#stamp();
      if (now === stamp) return;
      stamp = now;
      onChange();
    }, this.#pollMs);
    return () => clearInterval(timer);
  }

  async #change(
    tokenOrId: string,
    edit: (role: Role, file: RoleFile) => void,
  ): Promise<Role> {
    let result: Role | undefined;
    await this.#update(async (file) => {
      const key = await this.#key(file, tokenOrId);
      if (!key) {
        throw notFound(
          tokenOrId.startsWith("role-") ? "token" : `"${tokenOrId}"`,
        );
      }
      const role = file.roles[key];
      edit(role, file);
      role.updatedAt = new Date().toISOString();
      result = role;
    });
    return result!;
  }

  #key(file: RoleFile, tokenOrId: string) {
    return resolveRoleKey(
      tokenOrId,
      (h) => h in file.roles,
      () => Object.keys(file.roles),
    );
  }

  #stamp(): string {
    try {
      const s = Deno.statSync(this.#path);
      return `${s.ino}:${s.mtime?.getTime()}:${s.size}`;
    } catch {
      return "missing";
    }
  }

  #parse(text: string | undefined): RoleFile {
    if (text === undefined) return { version: 1, roles: {} };
    try {
      const file = JSON.parse(text) as RoleFile;
      if (file?.version !== 1 || typeof file.roles !== "object") {
        throw new Error("bad shape");
      }
      return file;
    } catch (e) {
      throw new CatbusError(
        ErrorCode.Internal,
        `${this.#path} is not a valid role store (${
          (e as Error).message
        }); restore it from a backup`,
      );
    }
  }

  async #read(): Promise<RoleFile> {
    return this.#parse(
      await Deno.readTextFile(this.#path).catch(notFoundToUndefined),
    );
  }

  async #update(edit: (file: RoleFile) => void | Promise<void>): Promise<void> {
    await this.#acquire();
    try {
      const file = await this.#read();
      await edit(file);
      const tmp = `${this.#path}.${crypto.randomUUID()}.tmp`;
      const f = await Deno.open(tmp, {
        write: true,
        createNew: true,
        mode: 0o600,
      });
      try {
        await f.write(
          new TextEncoder().encode(JSON.stringify(file, null, 2) + "\n"),
        );
        await f.sync();
      } finally {
        f.close();
      }
      await Deno.rename(tmp, this.#path);
    } finally {
      await Deno.remove(this.#lock).catch(() => {});
    }
  }

  /** A lock file created exclusively; a lock older than LOCK_STALE_MS is from a dead writer. */
  async #acquire(): Promise<void> {
    const deadline = Date.now() + LOCK_STALE_MS * 2;
    while (true) {
      try {
        (await Deno.open(this.#lock, { write: true, createNew: true })).close();
        return;
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
        const age = await Deno.stat(this.#lock).then((s) => Date.now() - (s.mtime?.getTime() ?? 0))
          .catch(() => 0);
        if (age > LOCK_STALE_MS) await Deno.remove(this.#lock).catch(() => {});
        else if (Date.now() > deadline) {
          throw new CatbusError(
            ErrorCode.Unavailable,
            `${this.#lock} is held by another writer`,
          );
        } else await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

function notFoundToUndefined(e: unknown): undefined {
  if (e instanceof Deno.errors.NotFound) return undefined;
  throw e;
}
