import type { CatbusClient } from "../../client/mod.ts";

/** Every hook accepts a client that does not exist yet (before `useCatbus` created it). */
export type MaybeClient = CatbusClient | null | undefined;

/** One message as the subscription hooks hold it. */
export type { ReceivedMessage } from "../../client/mod.ts";
