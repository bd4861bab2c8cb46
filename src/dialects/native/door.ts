import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { encodeFrame, FrameType } from "../../../client/shared/frame.ts";
import { parseAddress } from "../../core/address.ts";
import type { SettingOrigins, SettingsOf } from "../../core/settings.ts";
import {
  Session,
  type SessionHost,
  type SessionLimitsWithHistory,
} from "../../protocol/session.ts";
import { refuseWith } from "../../transport/accept-loop.ts";
import type { HttpDoor } from "../../transport/http-server.ts";
import { SseSessions } from "../../transport/sse-sessions.ts";
import { listenTcp, type TcpListener } from "../../transport/tcp.ts";
import { WEBTRANSPORT_PATH, WebTransportListener } from "../../transport/webtransport.ts";
import { cannotListen, displayHost, type Door, type DoorServices } from "../door.ts";
import { clientBundle } from "./client-bundle.ts";
import { serveHttp } from "./http.ts";
import { OriginPolicy } from "./origins.ts";
import type { nativeSettings } from "./settings.ts";

/** The server settings the native listeners read: their own table and the shared limits. */
export type NativeDoorSettings =
  & SettingsOf<typeof nativeSettings.settings>
  & SessionLimitsWithHistory
  & {
    /** Native sessions open at once, authenticated or not. */
    maxConnections: number;
    origins: SettingOrigins<keyof typeof nativeSettings.settings>;
  };

const connectionLimit = new CatbusError(
  ErrorCode.LimitExceeded,
  "the server is at its connection limit (--max-connections, --max-connections-per-door); " +
    "retry later",
);

/** The native protocol's session host: the door's services, its limits, its connection count. */
function sessionHost(settings: NativeDoorSettings, services: DoorServices): SessionHost {
  /** Native sessions open now, authenticated or not (for --max-connections). */
  let connections = 0;
  return {
    broker: services.broker,
    consumers: services.consumers,
    presence: services.presence,
    replies: services.replies,
    authenticator: services.authenticator,
    limits: {
      maxPayload: settings.maxPayload,
      maxSubscriptions: settings.maxSubscriptions,
      maxPublishRate: settings.maxPublishRate,
      maxPublishesInFlight: settings.maxPublishesInFlight,
      helloTimeoutMs: settings.helloTimeoutMs,
      outboundBytes: settings.outboundBytes,
      heartbeatMs: settings.heartbeatMs,
      maxJsonDepth: settings.maxJsonDepth,
      maxHistoryLimit: settings.maxHistoryLimit,
      maxHistoryScan: settings.maxHistoryScan,
    },
    serverName: services.serverName,
    ...services.nodeUrls ? { nodeUrls: services.nodeUrls } : {},
    checkNamespace: services.checkNamespace,
    admit: () => {
      if (connections >= settings.maxConnections) return false;
      connections++;
      return true;
    },
    attach: (s) => services.live.add(s),
    detach: (s, admitted) => {
      if (admitted) connections--;
      services.live.delete(s);
    },
    log: services.log,
  };
}

/**
 * The native protocol's door, a set of listeners: HTTP at `--bind` (WebSocket at /ws, SSE +
 * POST at /sse, the browser client, /health, /ready), WebTransport on UDP at the same port, and
 * TCP at `--tcp-bind`. Each listener has connection slots of its own (`http`, `webtransport`,
 * `tcp`).
 */
export const nativeDoor: Door<NativeDoorSettings> = {
  name: "native",
  async start(settings, services) {
    const { tls, log } = services;
    const host = sessionHost(settings, services);
    const newSession = (t: ConstructorParameters<typeof Session>[1]) => new Session(host, t);
    const httpAddr = parseAddress(settings.bind, settings.origins.bind)!;
    const tcpAddr = parseAddress(settings.tcpBind, settings.origins.tcpBind)!;
    const sse = new SseSessions({
      replayBytes: settings.outboundBytes,
      graceMs: 15_000,
      keepAliveMs: settings.heartbeatMs,
      maxBodyBytes: 4 * (settings.maxPayload + 64 * 1024),
    }, newSession);
    let webtransport: WebTransportListener | undefined;
    let http: HttpDoor;
    try {
      http = serveHttp({
        ...httpAddr,
        ...tls,
        ...services.admissionOf("http"),
        limits: services.http,
      }, {
        readiness: services.readiness,
        newSession,
        sse,
        certificateHash: () => webtransport?.certificateHash,
        clientBundle,
        origins: new OriginPolicy(settings.allowedOrigins),
        mounts: services.routes,
      });
    } catch (e) {
      throw cannotListen(settings.bind, settings.origins.bind, e);
    }
    let tcp: TcpListener;
    try {
      tcp = await listenTcp({ ...tcpAddr, tls }, newSession, {
        ...services.admissionOf("tcp"),
        // Told why, without reading from it.
        refuse: (t) =>
          refuseWith(
            () => t.write(encodeFrame(FrameType.Error, 0, connectionLimit.toJSON())),
            () => t.close(),
          ),
      });
    } catch (e) {
      await http.shutdown();
      throw cannotListen(settings.tcpBind, settings.origins.tcpBind, e);
    }
    if (settings.webtransport) {
      try {
        webtransport = await WebTransportListener.start({
          hostname: httpAddr.hostname,
          port: http.port,
          ...tls,
          ...services.admissionOf("webtransport"),
          idleTimeoutMs: settings.webtransportIdleTimeoutMs,
          names: ["0.0.0.0", "::"].includes(httpAddr.hostname) ? [] : [httpAddr.hostname],
          onRotate: (hash) => log("info", "webtransport certificate rotated", { hash: hash.value }),
        }, newSession);
      } catch (e) {
        // Clients fall back to WebSocket; say why WebTransport is missing.
        log("warn", "webtransport is off", { error: (e as Error).message });
      }
    }
    const scheme = tls ? "s" : "";
    const httpUrl = `http${scheme}://${displayHost(httpAddr.hostname)}:${http.port}`;
    const hash = webtransport?.certificateHash;
    return {
      url: httpUrl,
      endpoints: {
        http: httpUrl,
        websocket: httpUrl.replace(/^http/, "ws") + "/ws",
        tcp: `tcp${scheme}://${displayHost(tcpAddr.hostname)}:${tcp.port}`,
        ...(webtransport
          ? {
            webtransport: `https://${
              displayHost(httpAddr.hostname)
            }:${webtransport.port}${WEBTRANSPORT_PATH}`,
            ...(hash ? { cert_hash: hash.value } : {}),
          }
          : {}),
      },
      async close() {
        tcp.close();
        sse.closeAll();
        await http.shutdown();
        webtransport?.close();
      },
    };
  },
};
