import type { CatbusClient, MessageMeta } from "../../client/mod.ts";

/** Every hook accepts a client that does not exist yet (before `useCatbus` created it). */
export type MaybeClient = CatbusClient | null | undefined;

/** One message as the subscription hooks hold it. */
export interface ReceivedMessage<T = unknown> {
  channel: string;
  payload: T;
  meta: MessageMeta;
}
