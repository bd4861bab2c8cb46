import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { NoticeMeta, PresenceMember } from "../../client/shared/messages.ts";

export type PresenceEvent = Extract<NoticeMeta, { event: "join" | "leave" }>;

/** A connection present on channels: what identifies it, and whether it still lives. */
export interface PresenceConnection {
  readonly member: PresenceMember;
  /** When anything last arrived from it (ms since epoch): the TTL counts from here. */
  readonly lastSeen: number;
}

/** Who is told of joins and leaves (a connection subscribed with `joinLeave`). */
export interface PresenceWatcher {
  presence(event: PresenceEvent): void;
}

export interface PresenceOptions {
  /** A connection silent this long (ms) leaves every channel. */
  ttlMs: number;
  /** Members (client ids) per channel at most; one more is refused. */
  maxMembers: number;
}

/** One channel's presence: connections by client id (a client may be there several times). */
interface ChannelPresence {
  byClient: Map<string, Set<PresenceConnection>>;
  watchers: Set<PresenceWatcher>;
}

/**
 * This node's presence: which clients are on which channel, whatever door they came through.
 * A client joins with its first connection and leaves with its last; joins and leaves are told
 * to the channel's watchers. A connection that goes without leaving (its door did not notice it
 * vanish) is dropped after the TTL by `sweep`. Runtime-neutral: the server runs the sweep.
 */
export class PresenceRegistry {
  readonly #options: PresenceOptions;
  readonly #channels = new Map<string, ChannelPresence>();
  /** Channels each connection is present on, so it leaves them all at once. */
  readonly #joined = new Map<PresenceConnection, Set<string>>();

  constructor(options: PresenceOptions) {
    this.#options = options;
  }

  /** `connection` is present on `channel` (again: nothing changes). */
  join(channel: string, connection: PresenceConnection): void {
    const presence = this.#channel(channel);
    const { clientId } = connection.member;
    let connections = presence.byClient.get(clientId);
    if (!connections) {
      if (presence.byClient.size >= this.#options.maxMembers) {
        throw new CatbusError(
          ErrorCode.LimitExceeded,
          `channel "${channel}" already has ${presence.byClient.size} members present ` +
            `(--max-presence-members); subscribe without presence`,
        );
      }
      presence.byClient.set(clientId, connections = new Set());
    }
    connections.add(connection);
    let channels = this.#joined.get(connection);
    if (!channels) this.#joined.set(connection, channels = new Set());
    channels.add(channel);
    if (connections.size === 1) {
      this.#tell(presence, {
        event: "join",
        channel,
        member: connection.member,
      });
    }
  }

  /** `connection` is no longer present on `channel`. */
  leave(channel: string, connection: PresenceConnection): void {
    const presence = this.#channels.get(channel);
    const connections = presence?.byClient.get(connection.member.clientId);
    if (!presence || !connections?.delete(connection)) return;
    this.#joined.get(connection)?.delete(channel);
    if (connections.size === 0) {
      presence.byClient.delete(connection.member.clientId);
      this.#tell(presence, {
        event: "leave",
        channel,
        member: connection.member,
      });
    }
    this.#dropIfEmpty(channel, presence);
  }

  /** `connection` leaves every channel it is present on (it closed). */
  leaveAll(connection: PresenceConnection): void {
    for (const channel of [...this.#joined.get(connection) ?? []]) {
      this.leave(channel, connection);
    }
    this.#joined.delete(connection);
  }

  /** The members of `channel`, one per client id. */
  members(channel: string): PresenceMember[] {
    const presence = this.#channels.get(channel);
    if (!presence) return [];
    return [...presence.byClient.values()].map((connections) =>
      connections.values().next().value!.member
    );
  }

  watch(channel: string, watcher: PresenceWatcher): void {
    this.#channel(channel).watchers.add(watcher);
  }

  unwatch(channel: string, watcher: PresenceWatcher): void {
    const presence = this.#channels.get(channel);
    if (!presence) return;
    presence.watchers.delete(watcher);
    this.#dropIfEmpty(channel, presence);
  }

  /** Connections silent for longer than the TTL leave everything (returns how many). */
  sweep(now: number): number {
    let expired = 0;
    for (const connection of [...this.#joined.keys()]) {
      if (now - connection.lastSeen <= this.#options.ttlMs) continue;
      this.leaveAll(connection);
      expired++;
    }
    return expired;
  }

  #channel(channel: string): ChannelPresence {
    let presence = this.#channels.get(channel);
    if (!presence) {
      this.#channels.set(
        channel,
        presence = { byClient: new Map(), watchers: new Set() },
      );
    }
    return presence;
  }

  #dropIfEmpty(channel: string, presence: ChannelPresence) {
    if (presence.byClient.size === 0 && presence.watchers.size === 0) {
      this.#channels.delete(channel);
    }
  }

  #tell(presence: ChannelPresence, event: PresenceEvent) {
    for (const watcher of presence.watchers) watcher.presence(event);
  }
}
