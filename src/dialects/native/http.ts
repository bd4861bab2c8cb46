import type { SessionTransport } from "../../protocol/session.ts";
import type { SseSessions } from "../../transport/sse-sessions.ts";
import type { StreamHandler } from "../../transport/tcp.ts";
import type { CertificateHash } from "../../transport/webtransport.ts";
import { acceptWebSocket } from "../../transport/websocket.ts";
import type { AcceptReport, Admission } from "../../transport/accept-loop.ts";
import { type HttpDoor, type HttpLimits, serveHttpDoor } from "../../transport/http-server.ts";
import { SSE_SESSION_SECRET_HEADER } from "../../../client/shared/messages.ts";
import { type OriginPolicy, withHeaders } from "./origins.ts";
import type { HttpMount } from "../door.ts";
import { wholeResponse } from "../../transport/http-response.ts";

export interface HttpRoutes {
  /** `ready`, or why not (`shutting_down`, `database_unavailable`): /ready answers 503 then. */
  readiness(): string;
  newSession(transport: SessionTransport): StreamHandler;
  /** The native protocol over SSE + POST. */
  sse: SseSessions;
  /** The WebTransport listener's self-signed certificate hash, if it has one. */
  certificateHash(): CertificateHash | undefined;
  /** The browser build of `@catbus/client`. */
  clientBundle(): Promise<string>;
  /** Which other origins' pages may use the listener (--allowed-origins). */
  origins: OriginPolicy;
  /** Routes of the server's other modules (metrics, the admin API, the console), by path. */
  mounts: readonly HttpMount[];
}

/** The mount a path belongs to, if any. */
const mountOf = (mounts: readonly HttpMount[], path: string): HttpMount | undefined =>
  mounts.find((m) => path === m.prefix || path.startsWith(m.prefix + "/"));

const PREFLIGHT_HEADERS = `content-type, last-event-id, ${SSE_SESSION_SECRET_HEADER}`;

const json = (status: number, body: unknown) =>
  wholeResponse(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json" },
  });

/**
 * The HTTP listener: WebSocket at /ws, SSE + POST at /sse, the browser client at
 * /catbus/client.js, the WebTransport certificate hash at /.well-known/catbus/cert-hash,
 * liveness at /health, readiness at /ready, and the mounted routes (/metrics, /admin, /console).
 */
export function serveHttp(
  options: {
    hostname: string;
    port: number;
    cert?: string;
    key?: string;
    admit: Admission;
    report: AcceptReport;
    limits: HttpLimits;
  },
  routes: HttpRoutes,
): HttpDoor {
  return serveHttpDoor({
    ...options,
    onError: () =>
      json(500, {
        code: "internal",
        message: "internal error; see the server log",
      }),
  }, async (request, info, keep) => {
    const { origins } = routes;
    if (request.method === "OPTIONS") return origins.preflight(request, PREFLIGHT_HEADERS);
    const path = new URL(request.url).pathname;
    const remote = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
    const cors = origins.headers(request);
    if (path === "/sse" || path.startsWith("/sse/")) {
      if (!origins.allows(request)) return origins.refusal(request);
      return withHeaders(await routes.sse.handle(request, remote), cors);
    }
    if (path === "/catbus/client.js") {
      return wholeResponse(await routes.clientBundle(), {
        headers: { ...cors, "content-type": "text/javascript; charset=utf-8" },
      });
    }
    if (path === "/.well-known/catbus/cert-hash") {
      const hash = routes.certificateHash();
      if (!hash) {
        return json(404, {
          code: "not_found",
          message:
            "this server's WebTransport certificate is CA-issued (or WebTransport is off): " +
            "nothing to pin",
        });
      }
      return wholeResponse(JSON.stringify(hash) + "\n", {
        headers: {
          ...cors,
          "content-type": "application/json",
          "cache-control": "no-store",
        },
      });
    }
    if (path === "/ws") {
      if (!origins.allows(request)) return origins.refusal(request);
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return json(426, {
          code: "bad_request",
          message: "/ws expects a WebSocket upgrade",
        });
      }
      // The WebSocket holds the request's slot until it closes.
      const release = keep();
      try {
        return acceptWebSocket(request, remote, routes.newSession, release);
      } catch (e) {
        release();
        throw e;
      }
    }
    const mount = mountOf(routes.mounts, path);
    if (mount) return await mount.handle(request, remote);
    if (path === "/health") return json(200, { status: "ok" });
    if (path === "/ready") {
      const status = routes.readiness();
      return json(status === "ready" ? 200 : 503, { status });
    }
    return json(404, {
      code: "not_found",
      message: `no route ${path}; try /ws, /sse, /catbus/client.js, /health or /ready`,
    });
  });
}
