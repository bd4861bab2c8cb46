import { join } from "node:path";
import { serveLeanHttpDoor } from "../../transport/http-server.ts";
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
import { type Answer, wholeResponse } from "../../transport/http-response.ts";

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
    // The server's registry, where the door's own series are too.
    ["GET", "/metrics", async (ctx) =>
      wholeResponse(await ctx.services.metrics.metrics(), {
        headers: { "content-type": ctx.services.metrics.contentType, "cache-control": "no-store" },
      })],
    ["GET", "/ws", (ctx, request, _, info) => acceptPulsarSocket(ctx, request, info)],
  ];
}

/** Probes an orchestrator makes, never rate limited. */
const PROBES = new Set(["/health", "/ready"]);

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
  const server = serveLeanHttpDoor(
    { ...listen, ...ctx.services.admission, limits: ctx.services.http },
    async (request, info, keep) => {
      const url = new URL(request.url);
      const remote = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
      let template = "unmatched";
      let response: Answer;
      try {
        const found = router.find(request.method, url.pathname);
        template = found.template;
        if (!PROBES.has(template)) ctx.ipRate.take(info.remoteAddr.hostname);
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
