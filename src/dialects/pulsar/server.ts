import { join } from "node:path";
import { serveHttpDoor } from "../../transport/http-server.ts";
import { AUTH_ROUTES } from "./auth-routes.ts";
import type { PulsarContext } from "./context.ts";
import { errorResponse, json } from "./http.ts";
import { MESSAGE_ROUTES } from "./message-routes.ts";
import { POLL_ROUTES } from "./poll.ts";
import { type Route, Router } from "./router.ts";
import { TOPIC_ROUTES } from "./topic-routes.ts";
import { acceptPulsarSocket } from "./ws-session.ts";
import { PULSAR_NAMESPACE } from "./access.ts";
import { stopPasswordWorker } from "./password.ts";
import { connectionLogFields } from "../../auth/live-connections.ts";
import { wholeResponse } from "../../transport/http-response.ts";

/**
 * Can the door store a change right now? Not while the server drains; else a probe write in its
 * directory (disk full, directory gone).
 */
async function storageReady(ctx: PulsarContext): Promise<string> {
  const readiness = ctx.services.readiness();
  if (readiness !== "ready") return `error: ${readiness.replaceAll("_", " ")}`;
  if (!ctx.services.broker.namespace(PULSAR_NAMESPACE)) return "error: namespace missing";
  try {
    await Deno.writeTextFile(join(ctx.settings.data, "pulsar", ".ready"), String(Date.now()));
    return "ok";
  } catch (e) {
    return `error: ${(e as Error).name}`;
  }
}

function operationRoutes(): Route[] {
  return [
    [
      "GET",
      "/health",
      () => json(200, { status: "healthy", timestamp: new Date().toISOString(), version: "0.1.0" }),
    ],
    ["GET", "/ready", async (ctx) => {
      const storage = await storageReady(ctx);
      const ready = storage === "ok";
      return json(ready ? 200 : 503, { ready, checks: { storage } });
    }],
    ["GET", "/metrics", async (ctx, request, _, info) => {
      // The door's own series, then the server's registry (where its traffic is counted, with
      // door="pulsar"), so a scraper of the original's port sees both.
      const server = ctx.services.routes.find((r) => r.prefix === "/metrics");
      const shared = server ? await (await server.handle(request, info.remote)).text() : "";
      return wholeResponse(
        ctx.metrics.render({
          websockets: ctx.live.size,
          pollWaiters: ctx.polls.active,
          users: ctx.store.users().length,
          topics: ctx.store.topics().length,
        }) + shared,
        { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } },
      );
    }],
    ["GET", "/ws", (ctx, request, _, info) => acceptPulsarSocket(ctx, request, info)],
  ];
}

/** The Pulsar Relay API on its own listener (see docs/pulsar.md). */
export function servePulsar(
  ctx: PulsarContext,
  listen: { hostname: string; port: number; cert?: string; key?: string },
): { port: number; close(): Promise<void> } {
  const router = new Router([
    ...operationRoutes(),
    ...AUTH_ROUTES,
    ...TOPIC_ROUTES,
    ...MESSAGE_ROUTES,
    ...POLL_ROUTES,
  ]);
  const server = serveHttpDoor(
    { ...listen, ...ctx.services.admission, limits: ctx.services.http },
    async (request, info, keep) => {
      const url = new URL(request.url);
      const remote = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
      let template = "unmatched";
      let response: Response;
      try {
        const found = router.find(request.method, url.pathname);
        template = found.template;
        response = await found.handler(ctx, request, found.params, {
          keep,
          remote,
        });
      } catch (e) {
        response = errorResponse(e, (error) =>
          ctx.services.log("warn", "pulsar request failed", {
            ...connectionLogFields(`http:${remote}`, undefined),
            error: String(error),
          }));
      }
      ctx.metrics.request(request.method, template, response.status);
      return response;
    },
  );
  return {
    port: server.port,
    async close() {
      ctx.live.closeAll();
      await server.shutdown();
      await ctx.store.close();
      stopPasswordWorker();
    },
  };
}
