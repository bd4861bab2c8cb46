import { useEffect, useRef, useState } from "react";
import { type MaybeClient, useSubscription } from "../../react/mod.ts";

/**
 * Presence from plain messages: every tab publishes `chat.presence.<name>` `{here: true}`
 * every HEARTBEAT_MS and `{here: false}` when it leaves (Leave button or `pagehide`). A name is
 * present while heard within PRESENT_FOR_MS; that also covers tabs that vanish without a word.
 * (The name is chosen after connecting, so it is not in the token: server-side presence,
 * `usePresence` from `@catbus/react`, shows a token's `info` instead.)
 */
export const HEARTBEAT_MS = 5_000;
export const PRESENT_FOR_MS = 12_000;
const PREFIX = "chat.presence.";

interface PresenceNote {
  here: boolean;
}

const isPresenceNote = (payload: unknown): payload is PresenceNote =>
  typeof payload === "object" && payload !== null &&
  typeof (payload as PresenceNote).here === "boolean";

/** Heartbeats are best effort: a lost one is replaced by the next, so failures are ignored. */
function announce(
  client: NonNullable<MaybeClient>,
  name: string,
  here: boolean,
) {
  // The ttl keeps stale notes from being replayed to anyone later.
  client.publish(PREFIX + name, { here }, { ttl: PRESENT_FOR_MS }).catch(
    () => {},
  );
}

/** Tells the others that `name` left now rather than letting its heartbeats expire. */
export function announceLeave(client: MaybeClient, name: string): void {
  if (client) announce(client, name, false);
}

/** Names heard within PRESENT_FOR_MS before `now`, sorted. */
export function presentAt(
  lastHeard: ReadonlyMap<string, number>,
  now: number,
): string[] {
  return [...lastHeard].filter(([, at]) => now - at < PRESENT_FOR_MS).map((
    [who],
  ) => who).sort();
}

/** Announces `name` while mounted and returns who is present (including `name`). */
export function usePresence(client: MaybeClient, name: string): string[] {
  const lastHeard = useRef(new Map<string, number>());
  const [present, setPresent] = useState<string[]>([]);
  const refresh = () => setPresent(presentAt(lastHeard.current, Date.now()));

  useSubscription(client, `${PREFIX}*`, {
    maxMessages: 1,
    onMessage: ({ channel, payload }) => {
      if (!isPresenceNote(payload)) return;
      const who = channel.slice(PREFIX.length);
      const known = lastHeard.current.has(who);
      if (payload.here) lastHeard.current.set(who, Date.now());
      else lastHeard.current.delete(who);
      refresh();
      // A newcomer missed our earlier heartbeats: answer now rather than within HEARTBEAT_MS.
      if (client && payload.here && !known && who !== name) {
        announce(client, name, true);
      }
    },
  });

  useEffect(() => {
    if (!client) return;
    announce(client, name, true);
    const timer = setInterval(() => {
      announce(client, name, true);
      refresh(); // drops names that fell silent
    }, HEARTBEAT_MS);
    const onPageHide = () => announce(client, name, false);
    addEventListener("pagehide", onPageHide);
    return () => {
      clearInterval(timer);
      removeEventListener("pagehide", onPageHide);
    };
  }, [client, name]);

  return present;
}
