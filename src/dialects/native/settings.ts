import { address, bool, duration, list, settingsGroup } from "../../core/settings.ts";

/** The native protocol's listeners: HTTP (WebSocket, SSE+POST), TCP, WebTransport. */
export const nativeSettings = settingsGroup({
  title: "Native listeners",
  settings: {
    bind: {
      flag: "bind",
      short: "b",
      env: "CATBUS_BIND",
      yaml: "bind",
      kind: address,
      default: "0.0.0.0:4433",
      help: "HTTP + WebSocket address",
    },
    allowedOrigins: {
      flag: "allowed-origins",
      env: "CATBUS_ALLOWED_ORIGINS",
      yaml: "allowed_origins",
      kind: list,
      default: ["*"],
      help: "comma-separated origins whose pages may use the HTTP listener (SSE, POST, " +
        "/catbus/client.js, the cert hash, WebSocket); * = any",
    },
    tcpBind: {
      flag: "tcp-bind",
      env: "CATBUS_TCP_BIND",
      yaml: "tcp_bind",
      kind: address,
      default: "0.0.0.0:4434",
      help: "raw TCP address",
    },
    webtransport: {
      flag: "webtransport",
      env: "CATBUS_WEBTRANSPORT",
      yaml: "webtransport",
      kind: bool,
      default: true,
      help: "WebTransport on UDP at the --bind port (on; --no-webtransport turns it off)",
    },
    webtransportIdleTimeoutMs: {
      flag: "webtransport-idle-timeout",
      env: "CATBUS_WEBTRANSPORT_IDLE_TIMEOUT",
      yaml: "limits.webtransport_idle_timeout",
      kind: duration,
      default: 30_000,
      help: "a WebTransport connection silent this long is closed (its peer is gone)",
    },
  },
});
