/**
 * The Alle door's channels, as the admin API shows them (`/admin/api/alle/channels`): what the
 * door's LISTEN connection listens to, as PostgreSQL itself reports it, and the bus channel each
 * is copied to. Read only.
 */
import type { AdminRoute } from "../door.ts";
import { adminJson, matchesQuery, page } from "../admin-list.ts";
import type { AlleBridge } from "./bridge.ts";
import { catbusChannel } from "./channels.ts";

export function alleAdminRoutes(bridge: AlleBridge): AdminRoute[] {
  return [
    ["GET", /^\/channels$/, async (_r, url) => {
      // While PostgreSQL is away there is nothing to ask: an empty list, `connected: false`.
      const listening = bridge.connected ? await bridge.listeningChannels().catch(() => []) : [];
      const items = listening
        .filter((channel) => matchesQuery(url, channel))
        .map((channel) => ({ channel, bus_channel: catbusChannel(channel) ?? null }));
      return adminJson(200, { ...page(items, url), connected: bridge.connected });
    }],
  ];
}
