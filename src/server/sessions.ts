import { CatbusError, ErrorCode } from "../core/errors.ts";
import type { RoleStore } from "../auth/role-store.ts";
import type { Session } from "../protocol/session.ts";

/**
 * The live authenticated sessions, indexed by role so a role change reaches its connections,
 * and swept periodically for silent clients, expired tokens and clients stuck behind.
 */
export class SessionRegistry {
  readonly #all = new Set<Session>();
  readonly #byRole = new Map<string, Set<Session>>();
  #stopWatch?: () => void;
  #roles?: RoleStore;
  #sweepTimer?: ReturnType<typeof setInterval>;

  get size(): number {
    return this.#all.size;
  }

  add(session: Session): void {
    this.#all.add(session);
    const hash = session.principal?.roleHash;
    if (hash) {
      let set = this.#byRole.get(hash);
      if (!set) this.#byRole.set(hash, set = new Set());
      set.add(session);
      // The role may have changed between the token check and this registration, when no
      // watcher would have seen the session yet: look once more.
      this.#applyRole(hash, [session]).catch(
        () => {/* the watcher retries on the next change */},
      );
    }
  }

  delete(session: Session): void {
    this.#all.delete(session);
    const hash = session.principal?.roleHash;
    const set = hash ? this.#byRole.get(hash) : undefined;
    if (set) {
      set.delete(session);
      if (set.size === 0) this.#byRole.delete(hash!);
    }
  }

  /**
   * Applies role changes from the store to live connections: on any change, every role with a
   * live session is looked up again (comparing with what the sessions hold, not with an older
   * snapshot, so quick successive edits cannot slip between two polls).
   */
  watchRoles(roles: RoleStore): void {
    this.#roles = roles;
    this.#stopWatch = roles.watch(async () => {
      try {
        for (const [hash, sessions] of this.#byRole) {
          await this.#applyRole(hash, [...sessions]);
        }
      } catch {
        // An unreadable store (e.g. a half-edited roles.json) leaves grants as they were until
        // the file is fixed; it must not take the server down.
      }
    });
  }

  /** Brings sessions of one role in line with the store: closed if deleted, regranted if changed. */
  async #applyRole(hash: string, sessions: Session[]) {
    const role = await this.#roles?.find(hash.slice(0, 12));
    for (const s of sessions) {
      if (!role || role.hash !== hash) {
        s.close(
          new CatbusError(
            ErrorCode.Revoked,
            "this role was deleted; the connection is closed",
          ),
        );
      } else if (
        JSON.stringify(role.grants) !== JSON.stringify(s.principal?.grants)
      ) {
        s.regrant(structuredClone(role.grants));
      }
    }
  }

  /** Every `intervalMs`: drop silent clients (3 heartbeats), expired tokens and stuck readers. */
  startSweeping(
    intervalMs: number,
    heartbeatMs: number,
    slowTimeoutMs: number,
  ): void {
    this.#sweepTimer = setInterval(() => {
      const now = Date.now();
      for (const s of [...this.#all]) {
        const exp = s.principal?.expiresAt;
        if (exp !== undefined && exp * 1000 <= now) {
          s.close(
            new CatbusError(
              ErrorCode.Unauthorized,
              "token expired; reconnect with a new token",
            ),
          );
        } else if (now - s.lastSeen > 3 * heartbeatMs) {
          s.close(
            new CatbusError(
              ErrorCode.Timeout,
              "no frames for 3 heartbeats; ping more often",
            ),
          );
        } else if (s.laggingSince && now - s.laggingSince > slowTimeoutMs) {
          s.close(
            new CatbusError(
              ErrorCode.SlowConsumer,
              "this connection stayed too far behind and was closed",
            ),
          );
        }
      }
    }, intervalMs);
  }

  closeAll(error?: CatbusError): void {
    for (const s of [...this.#all]) s.close(error);
  }

  stop(): void {
    this.#stopWatch?.();
    clearInterval(this.#sweepTimer);
  }
}
