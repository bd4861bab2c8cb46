/**
 * `@catbus/client`: the Catbus client for browsers, Deno and Node ≥ 22.
 *
 * @example
 * ```ts
 * import { CatbusClient } from "@catbus/client";
 *
 * const client = new CatbusClient({ url: "ws://localhost:4433", token: "sub-…" });
 * await client.connect();
 * await client.subscribe("project.123.>", (channel, payload, meta) => {
 *   console.log(channel, payload, meta.seq);
 * }, { onRecovery: ({ recovered }) => recovered || console.warn("missed messages") });
 * await client.publish("project.123.updates", { action: "save" });
 * ```
 *
 * @module
 */
export { CatbusClient } from "./src/client.ts";
export type { ClientOptions } from "./src/client-options.ts";
export type { ConnectionState } from "./src/reconnector.ts";
export type { PublishOptions, PublishResult } from "./src/publish.ts";
export type { RequestOptions } from "./src/reply-inbox.ts";
export type { Subscription } from "./src/subscriber.ts";
export type { MessageStream, ReceivedMessage, StreamOptions } from "./src/message-stream.ts";
export type { HistoryOptions, HistoryPage } from "./src/history.ts";
export type { PresenceMember } from "./shared/messages.ts";
export type {
  MessageHandler,
  MessageMeta,
  PresenceEvent,
  RecoveryInfo,
  SubscribeOptions,
} from "./src/subscriptions.ts";
export type {
  ConsumedMessage,
  ConsumeHandler,
  ConsumeOptions,
  ConsumerInfo,
  ConsumerSettings,
  Consumption,
} from "./src/consumers.ts";
export type { Transport, TransportConnection, TransportHandlers } from "./src/transport.ts";
export { websocketTransport, websocketUrl } from "./src/websocket-transport.ts";
export {
  type CertificateHash,
  webtransportTransport,
  type WebTransportTransportOptions,
  webtransportUrl,
} from "./src/webtransport-transport.ts";
export { sseTransport } from "./src/sse-transport.ts";
export {
  autoTransport,
  type AutoTransportOptions,
  type TransportKind,
} from "./src/auto-transport.ts";
/** Errors carry a stable `code` (e.g. "forbidden", "offline_queue_full") and a message. */
export { CatbusError, ErrorCode } from "./shared/errors.ts";
