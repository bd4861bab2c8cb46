/**
 * `@catbus/react`: React hooks for the Catbus client. React is a peer dependency of this
 * package only; `@catbus/client` does not depend on React.
 *
 * @example
 * ```tsx
 * import { useCatbus, usePublish, useSubscription } from "@catbus/react";
 *
 * function Room() {
 *   const { client, state } = useCatbus({ url: "http://localhost:4433", token });
 *   const { messages } = useSubscription(client, "chat.lobby");
 *   const { publish } = usePublish(client);
 *   // …
 * }
 * ```
 *
 * @module
 */
export { useCatbus, type UseCatbusResult } from "./src/use-catbus.ts";
export { useConnectionState } from "./src/use-connection-state.ts";
export {
  useSubscription,
  type UseSubscriptionOptions,
  type UseSubscriptionResult,
} from "./src/use-subscription.ts";
export { useLatestMessage } from "./src/use-latest-message.ts";
export { usePublish, type UsePublishResult } from "./src/use-publish.ts";
export { useHistory, type UseHistoryOptions, type UseHistoryResult } from "./src/use-history.ts";
export {
  usePresence,
  type UsePresenceOptions,
  type UsePresenceResult,
} from "./src/use-presence.ts";
export type { MaybeClient, ReceivedMessage } from "./src/types.ts";
