import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { Grant, Principal } from "./grants.ts";
import type { RoleStore } from "./role-store.ts";

/**
 * One live connection or stream of any door (a native session, a Bus event stream), as the
 * registry sees it: who it is, how to end it with the door's own notice, and how to apply
 * changed grants (ending what they no longer cover).
 */
export interface LiveConnection {
  readonly principal?: Principal;
  close(error?: CatbusError): void;
  regrant(grants: Grant[]): void;
  /** Tells the client its token expires at `expiresAt` (s), for doors that can refresh. */
  expiring?(expiresAt: number): void;
  /** Last time the client sent something, for doors with heartbeats. */
  readonly lastSeen?: number;
  /** Since when the client is behind (or 0), for doors that drop messages. */
  readonly laggingSince?: number;
  /** The peer's address, for doors that know it (`tcp:127.0.0.1:50122`). */
  readonly remote?: string;
  /** Bytes queued for the client and not yet written, for doors that queue. */
  readonly queuedBytes?: number;
}

/**
 * What every door's log line about a connection or a request carries (the door's logger adds
 * `door`): the peer's address and, once known, the client id.
 */
export function connectionLogFields(
  remote: string | undefined,
  principal: Principal | undefined,
): { remote?: string; client_id?: string } {
  return {
    ...(remote ? { remote } : {}),
    ...(principal?.clientId ? { client_id: principal.clientId } : {}),
  };
}

/** A live connection as the admin API lists it: a number to name it by, its door, since when. */
export interface ListedConnection {
  id: number;
  door: string;
  since: number;
  connection: LiveConnection;
}

/**
 * How long before a token's expiry a connection that can refresh is told (`expiring`): a minute,
 * or half the lifetime of a shorter-lived token.
 */
export const EXPIRING_NOTICE_MS = 60_000;

function noticeWindowMs(principal: Principal): number {
  const { expiresAt, issuedAt } = principal;
  if (expiresAt === undefined || issuedAt === undefined) return EXPIRING_NOTICE_MS;
  return Math.min(EXPIRING_NOTICE_MS, (expiresAt - issuedAt) * 500);
}

/**
 * The live authenticated connections of every door, indexed by role so a role change reaches
 * them, and swept periodically for expired tokens, silent clients and clients stuck behind.
 */
export class SessionRegistry {
  readonly #all = new Map<LiveConnection, ListedConnection>();
  #lastId = 0;
  readonly #byRole = new Map<string, Set<LiveConnection>>();
  #stopWatch?: () => void;
  #roles?: RoleStore;
  #sweepTimer?: ReturnType<typeof setInterval>;
  /** The expiry each connection was last told about. */
  readonly #warned = new WeakMap<LiveConnection, number>();

  get size(): number {
    return this.#all.size;
  }

  /** Registers a connection; `door` is set by the server, which registers each door's own. */
  add(connection: LiveConnection, door = "unknown"): void {
    this.#all.set(connection, { id: ++this.#lastId, door, since: Date.now(), connection });
    const hash = connection.principal?.roleHash;
    if (hash) {
      let set = this.#byRole.get(hash);
      if (!set) this.#byRole.set(hash, set = new Set());
      set.add(connection);
      // The role may have changed between the token check and this registration, when no
      // watcher would have seen the connection yet: look once more.
      this.#applyRole(hash, [connection]).catch(
        () => {/* the watcher retries on the next change */},
      );
    }
  }

  /** Unregisters a connection; false when it was not registered. */
  delete(connection: LiveConnection): boolean {
    if (!this.#all.delete(connection)) return false;
    const hash = connection.principal?.roleHash;
    const set = hash ? this.#byRole.get(hash) : undefined;
    if (set) {
      set.delete(connection);
      if (set.size === 0) this.#byRole.delete(hash!);
    }
    return true;
  }

  /**
   * Applies role changes from the store to live connections: on a change of one role (the
   * store names it), that role's connections; on any other change, every role with a live
   * connection is looked up again (comparing with what the connections hold, not with an older
   * snapshot, so quick successive edits cannot slip between two polls).
   */
  watchRoles(roles: RoleStore): void {
    this.#roles = roles;
    this.#stopWatch = roles.watch(async (roleId) => {
      try {
        for (const [hash, connections] of this.#byRole) {
          if (roleId === undefined || hash.startsWith(roleId)) {
            await this.#applyRole(hash, [...connections]);
          }
        }
      } catch {
        // An unreadable store (a half-edited roles.json, an unreachable database) leaves grants
        // as they were until it is back; it must not take the server down.
      }
    });
  }

  /** Brings connections of one role in line with the store: closed if deleted, regranted if changed. */
  async #applyRole(hash: string, connections: LiveConnection[]) {
    const role = await this.#roles?.find(hash.slice(0, 12));
    for (const c of connections) {
      if (!role || role.hash !== hash) {
        c.close(
          new CatbusError(
            ErrorCode.Revoked,
            "this role was deleted; the connection is closed",
          ),
        );
      } else if (
        JSON.stringify(role.grants) !== JSON.stringify(c.principal?.grants)
      ) {
        c.regrant(structuredClone(role.grants));
      }
    }
  }

  /**
   * Every `intervalMs`: warn of tokens about to expire, drop expired ones, silent clients (3
   * heartbeats) and stuck readers.
   */
  startSweeping(
    intervalMs: number,
    heartbeatMs: number,
    slowTimeoutMs: number,
  ): void {
    let lastTick = Date.now();
    this.#sweepTimer = setInterval(() => {
      const now = Date.now();
      // A tick this late means the server itself was not running (a long stall, a starved
      // process): what clients sent meanwhile is still unread, so no one is judged silent or
      // stuck on this tick; the next one, after those reads, judges.
      const late = now - lastTick > intervalMs + heartbeatMs;
      lastTick = now;
      for (const c of [...this.#all.keys()]) {
        const exp = c.principal?.expiresAt;
        if (
          exp !== undefined && exp * 1000 - now <= noticeWindowMs(c.principal!) &&
          exp * 1000 > now &&
          this.#warned.get(c) !== exp
        ) {
          this.#warned.set(c, exp);
          c.expiring?.(exp);
        }
        if (exp !== undefined && exp * 1000 <= now) {
          c.close(
            new CatbusError(
              ErrorCode.Unauthorized,
              "token expired; reconnect with a new token",
            ),
          );
        } else if (!late && c.lastSeen !== undefined && now - c.lastSeen > 3 * heartbeatMs) {
          c.close(
            new CatbusError(
              ErrorCode.Timeout,
              "no frames for 3 heartbeats; ping more often",
            ),
          );
        } else if (!late && c.laggingSince && now - c.laggingSince > slowTimeoutMs) {
          c.close(
            new CatbusError(
              ErrorCode.SlowConsumer,
              "this connection stayed too far behind and was closed",
            ),
          );
        }
      }
    }, intervalMs);
  }

  /** Every live connection, oldest first. */
  list(): IterableIterator<ListedConnection> {
    return this.#all.values();
  }

  closeAll(error?: CatbusError): void {
    for (const c of [...this.#all.keys()]) c.close(error);
  }

  stop(): void {
    this.#stopWatch?.();
    clearInterval(this.#sweepTimer);
  }
}
