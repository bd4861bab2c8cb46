import { CatbusError, ErrorCode, isCatbusError } from "../../../client/shared/errors.ts";
import { HTTP_STATUS } from "../http-status.ts";
import type { Principal } from "../../auth/grants.ts";
import { readBody } from "../../transport/http-body.ts";
import { type HttpDoor, type HttpLimits, serveHttpDoor } from "../../transport/http-server.ts";
import { sseFrame, SseStream } from "../../transport/sse.ts";
import { acceptTextWebSocket } from "../../transport/websocket.ts";
import type { AcceptReport, Admission } from "../../transport/accept-loop.ts";
import { AUTH_REQUIRED, authenticate, authRequired } from "./auth.ts";
import { AlleClient, type AlleContext } from "./client.ts";
import { alleSocket, MAX_CLIENT_MESSAGE_CHARS } from "./websocket.ts";
import { wholeResponse } from "../../transport/http-response.ts";

export interface AlleServerOptions {
  hostname: string;
  port: number;
  cert?: string;
  key?: string;
  door: { admit: Admission; report: AcceptReport };
  /** Header and idle timeouts, header limits (the server's HTTP settings). */
  http?: HttpLimits;
  /** Idle time before a keep-alive comment on event streams (Alle: 30 s). */
  keepAliveMs?: number;
}

const json = (status: number, body: unknown) =>
  wholeResponse(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** The token of a request: `Authorization: Bearer …`, or `?token=` (browsers' EventSource). */
function tokenOf(request: Request, url: URL): string | undefined {
  const header = request.headers.get("authorization");
  const bearer = header?.match(/^Bearer\s+(.+)$/i)?.[1];
  return bearer ?? url.searchParams.get("token") ?? undefined;
}

/**
 * The Alle door's HTTP listener: the WebSocket protocol at `/` (any path but the two below),
 * `GET /sse?channels=a,b` (events `message` with `{"channel","payload"}`) and
 * `POST /notify {channel,payload}` → `{"success":true}` or `{"success":false,"error"}`. Unlike
 * the original, `/notify` checks the credential and the grants too.
 */
export function serveAlle(options: AlleServerOptions, context: AlleContext): HttpDoor {
  /** The request's principal when it carries a token; undefined when none and none is needed. */
  const principalOf = async (request: Request, url: URL): Promise<Principal | undefined> => {
    const token = tokenOf(request, url);
    if (!authRequired(context.auth)) return undefined;
    if (!token) throw new CatbusError(ErrorCode.Unauthorized, AUTH_REQUIRED);
    return await authenticate(context.auth, token);
  };

  async function sse(request: Request, url: URL): Promise<Response> {
    const principal = await principalOf(request, url);
    const channels = (url.searchParams.get("channels") ?? "").split(",").map((c) => c.trim())
      .filter(Boolean);
    if (!channels.length) {
      throw new CatbusError(ErrorCode.BadRequest, "give the channels: /sse?channels=a,b");
    }
    let client: AlleClient | undefined = undefined;
    const stream: SseStream = new SseStream({
      highWaterBytes: 64 * 1024,
      keepAliveMs: options.keepAliveMs ?? 30_000,
      onClose: () => client?.ended(),
    });
    const sent = (fields: { event: string; data: string }) => stream.send(sseFrame(fields));
    client = new AlleClient(context, {
      notification: (n) => stream.send(n.event),
      send: (m) => sent({ event: "error", data: JSON.stringify({ message: m.message }) }),
      buffered: () => stream.overflow,
      close: () => stream.close(),
    });
    if (principal) client.authenticated(principal);
    try {
      for (const channel of channels) await client.subscribe(channel);
    } catch (e) {
      client.ended();
      throw e;
    }
    return stream.response;
  }

  async function notify(request: Request, url: URL): Promise<Response> {
    const principal = await principalOf(request, url);
    const body = await readBody(request, MAX_CLIENT_MESSAGE_CHARS * 4);
    let parsed: { channel?: unknown; payload?: unknown };
    try {
      parsed = JSON.parse(new TextDecoder().decode(body));
    } catch {
      throw new CatbusError(ErrorCode.BadRequest, 'send JSON: {"channel":"…","payload":"…"}');
    }
    const client = new AlleClient(context, {
      send() {},
      notification() {},
      buffered: () => 0,
      close() {},
    });
    if (principal) client.authenticated(principal);
    try {
      await client.notify(parsed?.channel as string, parsed?.payload);
    } finally {
      client.ended();
    }
    return json(200, { success: true });
  }

  return serveHttpDoor({
    hostname: options.hostname,
    port: options.port,
    ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
    ...options.door,
    limits: options.http,
    onError: () => json(500, { success: false, error: "internal error; see the server log" }),
  }, async (request, info, keep) => {
    const url = new URL(request.url);
    const remote = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
    try {
      if (url.pathname === "/sse" && request.method === "GET") return await sse(request, url);
      if (url.pathname === "/notify" && request.method === "POST") {
        return await notify(request, url);
      }
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return json(404, {
          success: false,
          error: "Alle serves a WebSocket at /, GET /sse?channels= and POST /notify",
        });
      }
      // A credential at the upgrade (?token=, Bearer) authenticates at once; without one, the
      // client sends `authenticate`.
      const principal = tokenOf(request, url) ? await principalOf(request, url) : undefined;
      const release = keep();
      try {
        return acceptTextWebSocket(request, remote, alleSocket(context, principal), release);
      } catch (e) {
        release();
        throw e;
      }
    } catch (e) {
      if (!isCatbusError(e)) throw e;
      return json(HTTP_STATUS[e.code] ?? 500, { success: false, error: e.clientMessage });
    }
  });
}
