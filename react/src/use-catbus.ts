import { useEffect, useState } from "react";
import { CatbusClient, type ClientOptions, type ConnectionState } from "../../client/mod.ts";
import { useConnectionState } from "./use-connection-state.ts";

export interface UseCatbusResult {
  /** Undefined until the first effect ran (and while `config` is null). */
  client: CatbusClient | undefined;
  state: ConnectionState;
  /** Why the connection failed or broke; cleared once connected again. */
  error: Error | undefined;
}

/**
 * Creates a client for `config`, connects it on mount and disconnects it on unmount. A new
 * client is made only when `url` or `token` change; other options are read when it is created.
 * Pass `null` while the configuration is not known yet (e.g. the token is being fetched).
 */
export function useCatbus(
  config: ClientOptions | null | undefined,
): UseCatbusResult {
  const [client, setClient] = useState<CatbusClient>();
  const [error, setError] = useState<Error>();
  const state = useConnectionState(client);
  // A list of URLs is keyed by its contents: a new array with the same URLs is the same config.
  const url = Array.isArray(config?.url) ? config.url.join(" ") : config?.url;
  const token = config?.token;

  useEffect(() => {
    if (!config) return;
    const created = new CatbusClient(config);
    setClient(created);
    setError(undefined);
    const stopErrors = created.onError(setError);
    const stopStates = created.onStateChange((s) => {
      if (s === "connected") setError(undefined);
    });
    let active = true;
    // A disconnect() during this connect makes it reject with `disconnected`: not an error here.
    created.connect().catch((e: Error) => {
      if (active) setError(e);
    });
    return () => {
      active = false;
      stopErrors();
      stopStates();
      created.disconnect();
      setClient(undefined);
    };
    // Keyed by url and token only: this render's `config` is the one they belong to.
  }, [url, token]);

  return { client, state, error };
}
