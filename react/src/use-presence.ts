import { useEffect, useState } from "react";
import type { PresenceEvent, PresenceMember } from "../../client/mod.ts";
import { listen } from "./listen.ts";
import { sharedOf } from "./shared.ts";
import type { MaybeClient } from "./types.ts";

export interface UsePresenceOptions {
  /** Be present on the channel while mounted (default true); false only watches. */
  join?: boolean;
}

export interface UsePresenceResult {
  /** Who is present, one entry per client id (with its token's `info`). */
  members: PresenceMember[];
  /** Why presence was refused or ended (e.g. `forbidden`, `limit_exceeded`). */
  error: Error | undefined;
}

interface PresenceUser {
  onEvent(event: PresenceEvent): void;
  onError(error: Error): void;
  /** The shared subscription is confirmed: the server counts this client from now on. */
  onSubscribed(): void;
}

/**
 * The members present on `channel`, kept current by join and leave events and asked again
 * each time the server confirms the subscription (after every reconnect too). With `join` (the default) this client is one of them while mounted.
 * Components using one channel share one subscription (reference-counted), so StrictMode and
 * many components add no listeners on the server.
 */
export function usePresence(
  client: MaybeClient,
  channel: string,
  options: UsePresenceOptions = {},
): UsePresenceResult {
  const join = options.join ?? true;
  const [members, setMembers] = useState<PresenceMember[]>([]);
  const [error, setError] = useState<Error>();

  useEffect(() => {
    setMembers((list) => list.length ? [] : list);
    setError(undefined);
    if (!client) return;
    let active = true;
    // Events heard while a list is being asked for: the answer may predate them (the server
    // answers the list and delivers the events independently), so they are applied over it.
    const journals = new Set<PresenceEvent[]>();
    const refresh = () => {
      if (client.connectionState !== "connected") return;
      const heard: PresenceEvent[] = [];
      journals.add(heard);
      client.presence(channel).then(
        (list) => active && setMembers(heard.reduce(applyEvent, list)),
        (e: Error) => active && setError(e),
      ).finally(() => journals.delete(heard));
    };
    const user: PresenceUser = {
      onEvent: (event) => {
        if (!active) return;
        for (const heard of journals) heard.push(event);
        setMembers((list) => applyEvent(list, event));
      },
      onError: (e) => active && setError(e),
      onSubscribed: () => active && refresh(),
    };
    const stopUsing = sharedOf<PresenceUser>(client, "presence").use(
      `${join}:${channel}`,
      user,
      (users) =>
        listen(client, channel, {
          onMessage: () => {},
          onError: (e) => users.forEach((u) => u.onError(e)),
          onSubscribed: () => users.forEach((u) => u.onSubscribed()),
        }, {
          presence: join,
          onPresence: (event) => users.forEach((u) => u.onEvent(event)),
        }),
    );
    // Asked whenever the server confirmed the subscription — a join that came before it is never
    // heard, so only a list asked after it is complete — and at once for a subscription shared
    // and already confirmed. Not on "connected": that list may be answered before the
    // resubscribe, and nothing would ask again.
    const first = setTimeout(refresh, 0);
    return () => {
      active = false;
      clearTimeout(first);
      stopUsing();
    };
  }, [client, channel, join]);

  return { members, error };
}

/** `list` after a join or leave: one entry per client id. */
function applyEvent(list: PresenceMember[], { event, member }: PresenceEvent): PresenceMember[] {
  const others = list.filter((m) => m.clientId !== member.clientId);
  return event === "join" ? [...others, member] : others;
}
