import { useEffect, useState } from "react";
import { listen } from "./listen.ts";
import type { MaybeClient, ReceivedMessage } from "./types.ts";
import { useLatest } from "./use-latest.ts";

export interface UseSubscriptionOptions<T> {
  /** Keep at most this many messages, the oldest dropped first (default 100). */
  maxMessages?: number;
  /** Called for every message; changing it does not resubscribe. */
  onMessage?: (message: ReceivedMessage<T>) => void;
}

export interface UseSubscriptionResult<T> {
  /** Received messages, oldest first. Emptied when the client or the pattern changes. */
  messages: ReceivedMessage<T>[];
  /** Why the subscription was refused or ended (e.g. `forbidden`, `revoked`). */
  error: Error | undefined;
}

/**
 * Subscribes to `pattern` as soon as the client exists — before it is connected the client
 * queues the subscription and sends it on connect — and unsubscribes on unmount or when the
 * client or pattern changes.
 */
export function useSubscription<T = unknown>(
  client: MaybeClient,
  pattern: string,
  options: UseSubscriptionOptions<T> = {},
): UseSubscriptionResult<T> {
  const [messages, setMessages] = useState<ReceivedMessage<T>[]>([]);
  const [error, setError] = useState<Error>();
  const maxMessages = useLatest(options.maxMessages ?? 100);
  const onMessage = useLatest(options.onMessage);

  useEffect(() => {
    setMessages((list) => list.length ? [] : list);
    setError(undefined);
    if (!client) return;
    return listen(client, pattern, {
      onMessage: (channel, payload, meta) => {
        const message: ReceivedMessage<T> = {
          channel,
          payload: payload as T,
          meta,
        };
        setMessages((list) => newest([...list, message], maxMessages.current));
        onMessage.current?.(message);
      },
      onError: setError,
    });
  }, [client, pattern]);

  return { messages, error };
}

const newest = <T>(list: T[], max: number): T[] =>
  list.length > max ? list.slice(list.length - Math.max(0, max)) : list;
