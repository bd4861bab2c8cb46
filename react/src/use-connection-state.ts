import { useCallback, useSyncExternalStore } from "react";
import type { ConnectionState } from "../../client/mod.ts";
import type { MaybeClient } from "./types.ts";

/** The client's connection state, re-rendering on every change ("disconnected" without a client). */
export function useConnectionState(client: MaybeClient): ConnectionState {
  const subscribe = useCallback(
    (onChange: () => void) => client ? client.onStateChange(onChange) : () => {},
    [client],
  );
  const snapshot = () => client?.connectionState ?? "disconnected";
  return useSyncExternalStore(subscribe, snapshot, snapshot);
}
