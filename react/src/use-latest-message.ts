import type { MaybeClient, ReceivedMessage } from "./types.ts";
import { useSubscription } from "./use-subscription.ts";

/** The last message on `pattern` since the hook subscribed (channel, payload, meta), if any. */
export function useLatestMessage<T = unknown>(
  client: MaybeClient,
  pattern: string,
): ReceivedMessage<T> | undefined {
  return useSubscription<T>(client, pattern, { maxMessages: 1 }).messages[0];
}
