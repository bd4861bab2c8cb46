import type { Door } from "../dialects/door.ts";
import { busDoor } from "../dialects/bus/door.ts";
import { nativeDoor } from "../dialects/native/door.ts";
import { rcpDoor } from "../dialects/rcp/door.ts";
import { pulsarDoor } from "../dialects/pulsar/door.ts";
import { alleDoor } from "../dialects/alle/door.ts";
import type { ServerConfig } from "./config.ts";

/**
 * The doors, started in this order (and stopped in it): the native protocol's listeners first.
 * A new door is one folder and one line here; see "How to add a door" in docs/architecture.md.
 */
export const DOORS: readonly Door<ServerConfig>[] = [
  nativeDoor,
  busDoor,
  rcpDoor,
  pulsarDoor,
  alleDoor,
];
