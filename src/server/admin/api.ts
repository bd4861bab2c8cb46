/**
 * The admin HTTP API at /admin/api (docs/admin-api.md): what the console does, and what the CLI
 * and scripts can do with the admin key as a bearer token.
 */
import type { HttpMount } from "../../dialects/door.ts";
import { accessRoutes } from "./api-access.ts";
import { streamRoutes } from "./api-streams.ts";
import { ConsoleAuth } from "./console-auth.ts";
import type { AdminContext } from "./context.ts";
import { errorResponse, json, jsonBody } from "./http.ts";
import type { Route } from "./routes.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";

export const ADMIN_API = "/admin/api";

export function adminApi(ctx: AdminContext): HttpMount & { close(): void } {
  const auth = new ConsoleAuth({
    adminKey: ctx.adminKey,
    sessionMs: ctx.sessionMs,
    secure: ctx.tls,
  });
  const streams = streamRoutes(ctx);
  const routes: Route[] = [...accessRoutes(ctx), ...streams.routes];
  const log = (request: Request, path: string, remote: string, status: number, caller: string) => {
    // Reads at debug; every change is an info line (an audit trail).
    ctx.log(request.method === "GET" ? "debug" : "info", "admin request", {
      door: "admin",
      remote,
      client_id: caller,
      method: request.method,
      path,
      status,
    });
  };

  const handle = async (request: Request, path: string, remote: string): Promise<Response> => {
    if (path === "/login" && request.method === "POST") {
      auth.authorizeOrigin(request);
      const body = await jsonBody(request, 4096);
      const session = await auth.login(body.key, remote.replace(/:\d+$/, ""));
      return json(200, {
        csrf: session.csrf,
        expires_at: new Date(session.expiresAt).toISOString(),
      }, {
        "set-cookie": session.cookie,
      });
    }
    if (path === "/logout" && request.method === "POST") {
      await auth.authorize(request);
      return json(200, { logged_out: true }, { "set-cookie": auth.logout(request) });
    }
    if (path === "/session" && request.method === "GET") {
      auth.authorizeOrigin(request);
      const session = auth.session(request);
      if (!session) throw new CatbusError(ErrorCode.Unauthorized, "not logged in");
      return json(200, {
        csrf: session.csrf,
        expires_at: new Date(session.expiresAt).toISOString(),
      });
    }
    await auth.authorize(request);
    const url = new URL(request.url);
    // The server's routes, then each running door's under its name.
    const tables: [string, readonly Route[]][] = [["", routes]];
    for (const [door, own] of ctx.doorRoutes()) tables.push([`/${door}`, own]);
    const allowed: string[] = [];
    for (const [prefix, table] of tables) {
      if (prefix && !path.startsWith(prefix + "/")) continue;
      const rest = path.slice(prefix.length);
      for (const [method, pattern, run] of table) {
        const m = pattern.exec(rest);
        if (!m) continue;
        if (method === request.method) {
          return await run(request, url, m.slice(1).map(decodeURIComponent));
        }
        allowed.push(method);
      }
    }
    if (allowed.length) {
      return json(405, {
        code: ErrorCode.BadRequest,
        message: `${path} takes ${allowed.join(", ")}`,
      }, {
        allow: allowed.join(", "),
      });
    }
    return json(404, {
      code: ErrorCode.NotFound,
      message: `no admin API route ${path}; see docs/admin-api.md`,
    });
  };

  return {
    prefix: ADMIN_API,
    async handle(request, remote) {
      const path = new URL(request.url).pathname.slice(ADMIN_API.length) || "/";
      let response: Response;
      try {
        response = await handle(request, path, remote);
      } catch (e) {
        if (!(e instanceof CatbusError)) {
          ctx.log("error", "admin request failed", {
            door: "admin",
            remote,
            path,
            error: String(e),
          });
        }
        response = errorResponse(e);
      }
      log(request, path, remote, response.status, auth.session(request) ? "console" : "admin");
      return response;
    },
    close: () => streams.tails.closeAll(),
  };
}
