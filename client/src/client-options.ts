import type { Transport } from "./transport.ts";
import { websocketTransport } from "./websocket-transport.ts";

export interface ClientOptions {
  /**
   * `ws(s)://host:4433`, `http(s)://host:4433`, or `tcp(s)://host:4434` with a TCP transport;
   * several URLs (nodes of one cluster) are tried in turn. Once connected, the node list the
   * server advertises (`nodes` in its welcome) replaces them, in random order on reconnect.
   */
  url: string | string[];
  /** A `sub-` or `role-` token, or the admin key. */
  token?: string;
  /**
   * Fetches a fresh token (e.g. from your backend). Called for every reconnect (and the first
   * connect when `token` is not given), and when the server says the token is `expiring`: the
   * new token is handed over the open connection, subscriptions stay. With it, a refused or
   * expired token is retried on the next reconnect instead of ending the client.
   */
  getToken?: () => string | Promise<string>;
  /** How bytes travel; default: WebSocket. */
  transport?: Transport;
  /**
   * Reconnect after an unexpected drop, and keep trying the first `connect()`, forever (default
   * true). Without `getToken`, an `unauthorized` or `revoked` answer stops reconnecting: the
   * same token cannot do better.
   */
  autoReconnect?: boolean;
  /** First reconnect delay in ms (default 1000), doubling up to `maxReconnectDelay` (30000). */
  reconnectDelay?: number;
  maxReconnectDelay?: number;
  /** ± fraction of each delay (default 0.3). */
  reconnectJitter?: number;
  /**
   * Ping when the server, or this client, was silent this long (ms): the server closes a
   * connection it heard nothing from for three of its heartbeats, so a subscriber that only
   * receives pings too. The server silent for twice as long, the connection counts as dead and
   * the client reconnects. Default: the server's heartbeat.
   */
  pingInterval?: number;
  /** Queue publishes made while disconnected (default true), at most `maxQueueSize` (100). */
  offlineQueue?: boolean;
  maxQueueSize?: number;
  /** Give up on a connection attempt after this many ms (default 10000), then retry. */
  connectTimeout?: number;
  /** Reject a request the server has not answered within this many ms (default 10000). */
  requestTimeout?: number;
  /** Shown in server logs. */
  name?: string;
}

/** The options with their defaults filled in. */
export type ResolvedOptions =
  & Required<Omit<ClientOptions, "token" | "getToken" | "pingInterval" | "name">>
  & ClientOptions;

export function withDefaults(options: ClientOptions): ResolvedOptions {
  return {
    transport: websocketTransport(),
    autoReconnect: true,
    reconnectDelay: 1000,
    maxReconnectDelay: 30_000,
    reconnectJitter: 0.3,
    offlineQueue: true,
    maxQueueSize: 100,
    requestTimeout: 10_000,
    connectTimeout: 10_000,
    ...options,
  };
}
