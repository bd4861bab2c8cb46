import { useEffect, useState } from "react";
import type { HistoryPage, ReceivedMessage } from "../../client/mod.ts";
import type { MaybeClient } from "./types.ts";

export interface UseHistoryOptions {
  /** Messages to load, newest ones (default: the server's page size, 1000 at most). */
  limit?: number;
}

export interface UseHistoryResult<T> {
  /** The channel's newest messages, oldest first; empty until loaded. */
  messages: ReceivedMessage<T>[];
  loading: boolean;
  /** Why the history could not be read (e.g. `forbidden`, `not_found`). */
  error: Error | undefined;
  /** Loads the page before the oldest message held (nothing when there is none). */
  loadOlder(): void;
  /** False once the oldest stored message is held. */
  hasOlder: boolean;
}

/**
 * The newest messages of `channel` from the server's log, loaded once the client is
 * connected (again after `channel` or `limit` change), with `loadOlder` for earlier pages.
 * An answer that arrives after unmount or after the channel changed is dropped, so React
 * StrictMode's double effect shows one copy.
 */
export function useHistory<T = unknown>(
  client: MaybeClient,
  channel: string,
  options: UseHistoryOptions = {},
): UseHistoryResult<T> {
  const { limit } = options;
  const [messages, setMessages] = useState<ReceivedMessage<T>[]>([]);
  const [next, setNext] = useState<number>();
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<Error>();
  const [older, setOlder] = useState<number>();
  const [connected, setConnected] = useState(false);

  useEffect(() => {
    setConnected(client?.connectionState === "connected");
    if (!client) return;
    return client.onStateChange((s) => s === "connected" && setConnected(true));
  }, [client]);

  useEffect(() => {
    setMessages((list) => list.length ? [] : list);
    setNext(undefined);
    setOlder(undefined);
    setError(undefined);
  }, [client, channel, limit]);

  useEffect(() => {
    if (!client || !connected) return;
    const controller = new AbortController();
    setLoading(true);
    client.history<T>(channel, { limit, before: older, signal: controller.signal }).then(
      (page: HistoryPage<T>) => {
        setMessages((list) => older === undefined ? page.messages : [...page.messages, ...list]);
        setNext(page.next);
        setLoading(false);
      },
      (e: Error) => {
        if (controller.signal.aborted) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [client, connected, channel, limit, older]);

  return {
    messages,
    loading,
    error,
    hasOlder: next !== undefined,
    loadOlder: () => next !== undefined && setOlder(next),
  };
}
