import type { SessionTransport } from "../protocol/session.ts";
import type { StreamHandler } from "../transport/tcp.ts";
import { acceptWebSocket } from "../transport/websocket.ts";

export interface HttpRoutes {
  isReady(): boolean;
  newSession(transport: SessionTransport): StreamHandler;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json" },
  });

/** The HTTP listener: WebSocket at /ws, liveness at /health, readiness at /ready. */
export function serveHttp(
  options: { hostname: string; port: number; cert?: string; key?: string },
  routes: HttpRoutes,
): Deno.HttpServer<Deno.NetAddr> {
  // Deno.serve binds synchronously: a taken port throws here.
  return Deno.serve({
    ...options,
    onListen: () => {},
    onError: () =>
      json(500, {
        code: "internal",
        message: "internal error; see the server log",
      }),
  }, (request, info) => {
    const path = new URL(request.url).pathname;
    if (path === "/ws") {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return json(426, {
          code: "bad_request",
          message: "/ws expects a WebSocket upgrade",
        });
      }
      const remote = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
      return acceptWebSocket(request, remote, routes.newSession);
    }
    if (path === "/health") return json(200, { status: "ok" });
    if (path === "/ready") {
      return routes.isReady()
        ? json(200, { status: "ready" })
        : json(503, { status: "shutting_down" });
    }
    return json(404, {
      code: "not_found",
      message: `no route ${path}; try /ws, /health or /ready`,
    });
  });
}
