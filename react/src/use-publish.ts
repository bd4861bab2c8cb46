import { useCallback, useState } from "react";
import {
  CatbusError,
  ErrorCode,
  type PublishOptions,
  type PublishResult,
} from "../../client/mod.ts";
import type { MaybeClient } from "./types.ts";

export interface UsePublishResult {
  /** Resolves once the server stored the message; rejects (and sets `error`) when it did not. */
  publish(
    channel: string,
    payload: unknown,
    options?: PublishOptions,
  ): Promise<PublishResult>;
  /** True while any publish is in flight. */
  isPending: boolean;
  /** The last publish's failure; cleared when the next publish starts. */
  error: Error | undefined;
}

/** A stable `publish` function for the client, with its pending and error state. */
export function usePublish(client: MaybeClient): UsePublishResult {
  const [inFlight, setInFlight] = useState(0);
  const [error, setError] = useState<Error>();

  const publish = useCallback(
    async (channel: string, payload: unknown, options?: PublishOptions) => {
      setError(undefined);
      if (!client) {
        const missing = new CatbusError(
          ErrorCode.Disconnected,
          "no Catbus client yet: pass the client useCatbus returned",
        );
        setError(missing);
        throw missing;
      }
      setInFlight((n) => n + 1);
      try {
        return await client.publish(channel, payload, options);
      } catch (e) {
        setError(e as Error);
        throw e;
      } finally {
        setInFlight((n) => n - 1);
      }
    },
    [client],
  );

  return { publish, isPending: inFlight > 0, error };
}
