import type { Principal } from "../auth/grants.ts";
import type {
  PresenceConnection,
  PresenceEvent,
  PresenceRegistry,
  PresenceWatcher,
} from "../core/presence.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type {
  NoticeMeta,
  PresenceMember,
  PresenceMeta,
  PresenceResultMeta,
  SubscribeMeta,
} from "../../client/shared/messages.ts";
import { authorizePresence, presenceMember } from "../access/presence.ts";

/** What presence needs of its connection. */
export interface PresenceHost {
  readonly principal?: Principal;
  readonly lastSeen: number;
  notice(meta: NoticeMeta): void;
}

/**
 * One native connection's part in presence: the channels it is a member of (subscribed with
 * `presence`) and those whose joins and leaves it hears (`joinLeave`), ended with the
 * subscription, a withdrawn grant or the connection.
 */
export class SessionPresence implements PresenceConnection, PresenceWatcher {
  readonly #registry: PresenceRegistry;
  readonly #host: PresenceHost;
  /** Made at the first join/leave watch (most connections never watch). */
  #watching?: Set<string>;
  #member?: PresenceMember;

  constructor(registry: PresenceRegistry, host: PresenceHost) {
    this.#registry = registry;
    this.#host = host;
  }

  get member(): PresenceMember {
    return this.#member ??= presenceMember(this.#host.principal!);
  }

  get lastSeen(): number {
    return this.#host.lastSeen;
  }

  /** A join or leave on a watched channel: the client hears it as a notice. */
  presence(event: PresenceEvent): void {
    this.#host.notice(event);
  }

  /** True when the subscribe asks for presence (so its pattern must be a channel). */
  static wanted(meta: SubscribeMeta): boolean {
    return meta.presence === true || meta.joinLeave === true;
  }

  /** Joins and/or watches the subscribed channel, as the subscribe asked. */
  subscribed(meta: SubscribeMeta): void {
    if (!SessionPresence.wanted(meta)) return;
    // Watching first: a client hears its own join, so a list it asked for meanwhile catches up.
    const watched = meta.joinLeave === true && !this.#watching?.has(meta.pattern);
    if (watched) {
      (this.#watching ??= new Set()).add(meta.pattern);
      this.#registry.watch(meta.pattern, this);
    }
    try {
      if (meta.presence === true) this.#registry.join(meta.pattern, this);
    } catch (e) {
      if (watched) this.unsubscribed(meta.pattern);
      throw e;
    }
  }

  /** The subscription to `pattern` ended. */
  unsubscribed(pattern: string): void {
    this.#registry.leave(pattern, this);
    if (this.#watching?.delete(pattern)) {
      this.#registry.unwatch(pattern, this);
    }
  }

  /** Who is present on the channel (a read grant on it is needed). */
  members(principal: Principal, meta: PresenceMeta): PresenceResultMeta {
    if (typeof meta?.channel !== "string") {
      throw new CatbusError(
        ErrorCode.BadRequest,
        "name the channel: {channel}",
      );
    }
    authorizePresence(principal, meta.channel);
    return {
      channel: meta.channel,
      members: this.#registry.members(meta.channel),
    };
  }

  /** The connection ended. */
  leaveAll(): void {
    this.#registry.leaveAll(this);
    for (const channel of this.#watching ?? []) {
      this.#registry.unwatch(channel, this);
    }
    this.#watching = undefined;
  }
}
