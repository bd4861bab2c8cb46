import { address, oneOf, settingsGroup } from "../../core/settings.ts";

export const busSettings = settingsGroup({
  title: "Bus HTTP/SSE dialect",
  settings: {
    busBind: {
      flag: "bus-bind",
      env: "CATBUS_BUS_BIND",
      envAliases: ["BUS_ADDR"],
      yaml: "bus.bind",
      kind: address,
      help: "serve the Bus HTTP/SSE API here (Bus's port is :2021); off when unset",
    },
    busAuth: {
      flag: "bus-auth",
      env: "CATBUS_BUS_AUTH",
      yaml: "bus.auth",
      kind: oneOf(["open", "token"]),
      default: "open",
      help: "open (Bus's behaviour: no token, full access) or token (every request needs one)",
    },
  },
});
