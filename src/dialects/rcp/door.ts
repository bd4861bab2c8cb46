import type { Door } from "../door.ts";
import { type RcpConfig, startRcpService } from "./start.ts";

/** The state-machine database's RCP door: on when `--rcp-bind` is set. */
export const rcpDoor: Door<RcpConfig> = {
  name: "rcp",
  async start(config, services) {
    const rcpBind = config.rcpBind;
    if (!rcpBind) return undefined;
    return await startRcpService({ ...config, rcpBind }, services.broker, services.log, {
      ...services.admission,
      live: services.live,
    });
  },
};
