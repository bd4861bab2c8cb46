/** Admin API: overview, live connections, roles and grants, token minting. */
import { makeGrants } from "../../auth/grants.ts";
import { signSubToken } from "../../auth/tokens.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import type { AdminContext } from "./context.ts";
import { badRequest, json, jsonBody, matchesQuery, page } from "./http.ts";
import type { Route } from "./routes.ts";

const BODY_BYTES = 64 * 1024;
/** The longest lifetime a minted token may have: a year. */
const MAX_TOKEN_SECONDS = 365 * 24 * 3600;

const strings = (body: Record<string, unknown>, field: string): string[] => {
  const v = body[field];
  if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== "string")) {
    throw badRequest(`"${field}" must be a non-empty list of strings`);
  }
  return v as string[];
};

/** `{permissions, patterns}` → grants (`all` is read, write and create). */
const grantsOf = (body: Record<string, unknown>) => {
  const permissions = strings(body, "permissions").flatMap((p) =>
    p === "all" ? ["read", "write", "create"] : [p]
  );
  try {
    return makeGrants(permissions, strings(body, "patterns"));
  } catch (e) {
    throw badRequest((e as Error).message);
  }
};

export function accessRoutes(ctx: AdminContext): Route[] {
  const connection = (id: string) => {
    for (const c of ctx.live.list()) if (c.id === Number(id)) return c;
    throw new CatbusError(ErrorCode.NotFound, `no connection ${id}; it may have ended`);
  };
  const roleView = (r: Awaited<ReturnType<AdminContext["roles"]["list"]>>[number]) => ({
    id: r.id,
    name: r.name,
    grants: r.grants,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
  });
  return [
    ["GET", /^\/overview$/, () => {
      const consumers = ctx.consumers.list();
      return json(200, {
        version: ctx.version,
        started_at: new Date(ctx.startedAt).toISOString(),
        uptime_seconds: Math.floor((Date.now() - ctx.startedAt) / 1000),
        engine: ctx.engine,
        clustered: ctx.cluster !== undefined,
        nodes: nodesOf(ctx),
        connections: Object.fromEntries(ctx.connections()),
        live_connections: ctx.live.size,
        // The running doors with pages of their own (their routes under /admin/api/<door>/).
        door_pages: [...ctx.doorRoutes()].map(([door]) => door),
        namespaces: [...ctx.broker.namespaces()].length,
        consumers: consumers.length,
        ...ctx.traffic(),
      });
    }],
    ["GET", /^\/connections$/, (_r, url) => {
      const door = url.searchParams.get("door");
      const slow = url.searchParams.get("slow") === "true";
      const backlog = url.searchParams.get("backlog") === "true";
      const items = [...ctx.live.list()]
        .filter((c) =>
          (!door || c.door === door) &&
          (!slow || (c.connection.laggingSince ?? 0) > 0) &&
          (!backlog || (c.connection.queuedBytes ?? 0) > 0) &&
          matchesQuery(url, c.connection.principal?.clientId, c.connection.remote)
        )
        .map(({ id, door, since, connection: c }) => ({
          id,
          door,
          client_id: c.principal?.clientId,
          kind: c.principal?.kind,
          remote: c.remote,
          since: new Date(since).toISOString(),
          ...(c.lastSeen ? { last_seen: new Date(c.lastSeen).toISOString() } : {}),
          slow: (c.laggingSince ?? 0) > 0,
          ...(c.queuedBytes !== undefined ? { queued_bytes: c.queuedBytes } : {}),
        }));
      return json(200, page(items, url));
    }],
    ["POST", /^\/connections\/(\d+)\/close$/, (_r, _u, [id]) => {
      const c = connection(id);
      c.connection.close(
        new CatbusError(ErrorCode.Revoked, "an administrator closed this connection"),
      );
      ctx.log("info", "connection closed by an administrator", {
        door: c.door,
        remote: c.connection.remote,
        client_id: c.connection.principal?.clientId,
      });
      return json(200, { closed: c.id });
    }],
    ["GET", /^\/roles$/, async (_r, url) => {
      const roles = (await ctx.roles.list()).filter((r) => matchesQuery(url, r.name, r.id));
      return json(200, page(roles.map(roleView), url));
    }],
    ["POST", /^\/roles$/, async (request) => {
      const body = await jsonBody(request, BODY_BYTES);
      if (typeof body.name !== "string" || !body.name) throw badRequest('"name" must be given');
      const { token, role } = await ctx.roles.create(body.name);
      const grants = body.permissions === undefined ? [] : grantsOf(body);
      const granted = grants.length ? await ctx.roles.addGrants(role.id, grants) : role;
      ctx.log("info", "role created", { door: "console", role: role.id, name: role.name });
      return json(201, { token, role: roleView(granted) });
    }],
    ["POST", /^\/roles\/([0-9a-f]{12})\/grants$/, async (request, _u, [id]) => {
      const role = await ctx.roles.addGrants(id, grantsOf(await jsonBody(request, BODY_BYTES)));
      return json(200, roleView(role));
    }],
    ["POST", /^\/roles\/([0-9a-f]{12})\/revoke$/, async (request, _u, [id]) => {
      const role = await ctx.roles.removeGrants(id, grantsOf(await jsonBody(request, BODY_BYTES)));
      return json(200, roleView(role));
    }],
    ["DELETE", /^\/roles\/([0-9a-f]{12})$/, async (_r, _u, [id]) => {
      const role = await ctx.roles.delete(id);
      ctx.log("info", "role deleted", { door: "console", role: role.id, name: role.name });
      return json(200, roleView(role));
    }],
    ["POST", /^\/tokens$/, async (request) => {
      const body = await jsonBody(request, BODY_BYTES);
      const grants = grantsOf(body);
      const expiresIn = body.expires_in_seconds;
      if (
        expiresIn !== undefined &&
        (!Number.isSafeInteger(expiresIn) || (expiresIn as number) <= 0 ||
          (expiresIn as number) > MAX_TOKEN_SECONDS)
      ) {
        throw badRequest(`"expires_in_seconds" must be from 1 to ${MAX_TOKEN_SECONDS}`);
      }
      const clientId = typeof body.client_id === "string" ? body.client_id : crypto.randomUUID();
      const token = await signSubToken(ctx.secret, {
        clientId,
        grants,
        ...(expiresIn !== undefined ? { expiresIn: expiresIn as number } : {}),
      });
      ctx.log("info", "token minted", { door: "console", client_id: clientId });
      return json(201, {
        token,
        client_id: clientId,
        grants,
        ...(expiresIn !== undefined
          ? { expires_at: new Date(Date.now() + (expiresIn as number) * 1000).toISOString() }
          : {}),
      });
    }],
  ];
}

/** The live nodes of the registry (this one marked `self`), or this node alone. */
function nodesOf(ctx: AdminContext) {
  const here = { name: Deno.hostname(), pid: Deno.pid };
  const cluster = ctx.cluster?.();
  if (!cluster) return [{ id: null, ...here, urls: [], self: true }];
  return cluster.nodes.map((n) =>
    n.node === cluster.self
      ? { id: n.node, ...here, urls: n.urls, self: true }
      : { id: n.node, urls: n.urls, self: false }
  );
}
