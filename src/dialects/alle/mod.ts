/**
 * The Alle bridge for library use, as Alle's `Bridge`/`PostgresListener`: LISTEN/NOTIFY for many
 * subscribers over one reconnecting connection.
 *
 * ```ts
 * import { AlleBridge } from "catbus/src/dialects/alle/mod.ts";
 * const bridge = await AlleBridge.connect({ postgresUrl: "postgres://localhost/app" });
 * await bridge.subscribe("orders", {
 *   notification: ({ channel, payload }) => console.log(`[${channel}] ${payload}`),
 *   gap: ({ from, to }) => console.warn(`notifications lost between ${from} and ${to}`),
 * });
 * await bridge.notify("orders", "New order #123");
 * ```
 */
export { AlleBridge, type AlleBridgeOptions, type AlleSubscriber, Notification } from "./bridge.ts";
export type { NotificationGap } from "../../connectors/postgres/listener.ts";
