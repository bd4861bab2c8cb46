import { cannotListen, displayHost, type Door } from "../door.ts";
import { parseAddress } from "../../core/address.ts";
import type { SettingOrigins, SettingsOf } from "../../core/settings.ts";
import { serveBus } from "./server.ts";
import type { busSettings } from "./settings.ts";

/** The server settings the Bus door reads: its own table and the shared limits. */
export type BusDoorSettings = SettingsOf<typeof busSettings.settings> & {
  maxPayload: number;
  maxJsonDepth: number;
  outboundBytes: number;
  origins: SettingOrigins<keyof typeof busSettings.settings>;
};

/** The Bus HTTP/SSE door: on when `--bus-bind` is set. */
export const busDoor: Door<BusDoorSettings> = {
  name: "bus",
  start(settings, services) {
    if (!settings.busBind) return Promise.resolve(undefined);
    const address = parseAddress(settings.busBind, settings.origins.busBind)!;
    let bus;
    try {
      bus = serveBus({
        ...address,
        ...services.tls,
        ...services,
        door: services.admission,
        auth: settings.busAuth,
        maxPayload: settings.maxPayload,
        maxJsonDepth: settings.maxJsonDepth,
        outboundBytes: settings.outboundBytes,
      });
    } catch (e) {
      throw cannotListen(settings.busBind, settings.origins.busBind, e);
    }
    return Promise.resolve({
      url: `http${services.tls ? "s" : ""}://${displayHost(address.hostname)}:${bus.port}`,
      close: () => bus.close(),
    });
  },
};
