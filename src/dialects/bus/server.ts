import type { Authenticator } from "../../auth/authenticator.ts";
import type { Principal } from "../../auth/grants.ts";
import { connectionLogFields } from "../../auth/live-connections.ts";
import type { Broker } from "../../core/broker.ts";
import type { ReplyHolders } from "../../core/replies.ts";
import { CatbusError, ErrorCode, isCatbusError } from "../../../client/shared/errors.ts";
import { randomId } from "../../core/ids.ts";
import type { ConsumerRegistry } from "../../streams/consumer-registry.ts";
import { parseDuration } from "../../core/units.ts";
import type { SseStream } from "../../transport/sse.ts";
import { readBody } from "../../transport/http-body.ts";
import { Publisher } from "../../access/publisher.ts";
import { ack } from "./ack.ts";
import { CORS_HEADERS, PREFLIGHT_HEADERS } from "./cors.ts";
import { eventIdOf, rfc3339Nano } from "./event.ts";
import { parsePublishBody, publishItems } from "./publish.ts";
import {
  type BusBinding,
  type BusSubscribeContext,
  parseSubscribeParams,
  subscribe,
} from "./subscribe.ts";
import type { AcceptReport, Admission } from "../../transport/accept-loop.ts";
import { type HttpLimits, serveLeanHttpDoor } from "../../transport/http-server.ts";
import type { HttpRequest } from "../../transport/http-request.ts";
import { HTTP_STATUS } from "../http-status.ts";
import type { Logger } from "../../core/logger.ts";
import { type Answer, WholeAnswer } from "../../transport/http-response.ts";

export interface BusDialectOptions {
  hostname: string;
  port: number;
  cert?: string;
  key?: string;
  broker: Broker;
  consumers: ConsumerRegistry;
  authenticator: Authenticator;
  /** Who may answer which request, shared with the native door. */
  replies: ReplyHolders;
  /** `open`: no token, full access (as the original); `token`: every request needs one. */
  auth: "open" | "token";
  maxPayload: number;
  /** Deepest nesting of arrays and objects in a POST body. */
  maxJsonDepth: number;
  outboundBytes: number;
  checkNamespace(name: string): Promise<void>;
  log: Logger;
  /** The live-connection registry: revocation, role deletion and expiry end open streams. */
  live: BusSubscribeContext["live"];
  presence: BusSubscribeContext["presence"];
  /** Idle time before a `: ping` comment on event streams (default 30 s, as the original). */
  keepAliveMs?: number;
  /** Connection slots and accept-failure reports (see transport/http-server.ts). */
  door: { admit: Admission; report: AcceptReport };
  /** Header and idle timeouts and size limits, as on every HTTP door. */
  http: HttpLimits;
}

const NO_FIELDS: Record<string, string> = {};

/** A whole answer, CORS fields first; a bare one shares CORS_HEADERS (its fields checked once). */
const reply = (status: number, text = "", headers = NO_FIELDS) =>
  new WholeAnswer(
    status,
    text ? text + "\n" : null,
    text
      ? { ...CORS_HEADERS, "content-type": "text/plain; charset=utf-8", ...headers }
      : headers === NO_FIELDS
      ? CORS_HEADERS
      : { ...CORS_HEADERS, ...headers },
  );

/**
 * The Bus dialect (ella.to/bus's HTTP/SSE API) on its own listener: `POST /` publishes,
 * `GET /?subject=` streams events, `PUT /?consumer_id=&event_id=` acks. See docs/bus.md.
 */
export function serveBus(
  options: BusDialectOptions,
): { port: number; close(): Promise<void> } {
  const bindings = new Map<string, BusBinding>();
  const noAckStreams = new Map<string, string>();
  /** Open event streams, ended on close (an HTTP shutdown waits for every response to end). */
  const streams = new Set<SseStream>();
  const openPrincipal: Principal = { clientId: `bus-${randomId(6)}`, kind: "open", grants: [] };

  const authenticate = (request: HttpRequest, url: URL): Promise<Principal> => {
    if (options.auth === "open") return Promise.resolve(openPrincipal);
    const header = request.headers.get("authorization");
    // Tokens belong in headers; only EventSource (a GET that cannot send one) uses the query.
    const queryToken = url.searchParams.get("token");
    if (queryToken !== null && request.method !== "GET") {
      return Promise.reject(
        new CatbusError(
          ErrorCode.Unauthorized,
          `?token= is accepted on GET only (for EventSource); send ${request.method} with ` +
            "Authorization: Bearer <token>",
        ),
      );
    }
    const token = header?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? queryToken;
    if (!token) {
      return Promise.reject(
        new CatbusError(
          ErrorCode.Unauthorized,
          "this Bus listener needs a token: send Authorization: Bearer <token> " +
            "(or ?token= on GET, for EventSource)",
        ),
      );
    }
    return options.authenticator.authenticate(token);
  };

  /** `caller` learns the request's principal once it is authenticated, for the log. */
  const handle = async (
    request: HttpRequest,
    remote: string,
    caller: { principal?: Principal },
  ): Promise<Answer> => {
    // Every path is the API, as the original's `/` pattern serves them all.
    const url = new URL(request.url);
    if (request.method === "OPTIONS") return reply(204, "", PREFLIGHT_HEADERS);
    const principal = caller.principal = await authenticate(request, url);
    const base = {
      broker: options.broker,
      principal,
      // A Bus token answers the requests its streams were given (role tokens have no fixed id).
      replies: options.replies.holder(`bus-${principal.roleHash ?? principal.clientId}`),
      checkNamespace: options.checkNamespace,
    };
    switch (request.method) {
      case "POST": {
        const body = await readBody(request, options.maxPayload * 8 + 64 * 1024);
        const { items, batch } = parsePublishBody(body, options);
        const confirm = parseConfirm(url);
        if (batch && confirm) {
          throw new CatbusError(ErrorCode.BadRequest, "confirm applies to single events only");
        }
        const publisher = new Publisher(principal, base.replies, options);
        const published = await publishItems({ ...base, publisher }, items, confirm);
        if (batch) return reply(202);
        const m = published[0];
        return reply(202, "", {
          "x-bus-event-id": eventIdOf(m),
          "x-bus-event-created-at": rfc3339Nano(m.time),
          "x-bus-event-index": String(m.seq),
        });
      }
      case "HEAD": {
        // A health check (`wget --spider`): answered as GET would be, without opening a stream.
        parseSubscribeParams(url, null);
        return reply(200, "", { "content-type": "text/event-stream" });
      }
      case "GET":
        return await subscribe({
          ...base,
          consumers: options.consumers,
          bindings,
          noAckStreams,
          outboundBytes: options.outboundBytes,
          keepAliveMs: options.keepAliveMs ?? 30_000,
          streams,
          live: options.live,
          presence: options.presence,
          log: options.log,
          remote,
        }, parseSubscribeParams(url, request.headers.get("last-event-id")));
      case "PUT":
        await ack(bindings, noAckStreams, url, principal);
        return reply(202);
      default:
        return reply(
          405,
          `method ${request.method} is not part of the Bus API: use POST, GET or PUT`,
          { allow: "GET, HEAD, POST, PUT, OPTIONS" },
        );
    }
  };

  const server = serveLeanHttpDoor({
    hostname: options.hostname,
    port: options.port,
    ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
    ...options.door,
    limits: options.http,
  }, async (request, info) => {
    const remote = `http:${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
    const caller: { principal?: Principal } = {};
    try {
      return await handle(request, remote, caller);
    } catch (e) {
      if (isCatbusError(e)) {
        if (e.clientMessage !== e.message) {
          options.log("warn", e.message, connectionLogFields(remote, caller.principal));
        }
        return reply(HTTP_STATUS[e.code] ?? 500, e.clientMessage);
      }
      options.log("warn", "bus request failed", {
        ...connectionLogFields(remote, caller.principal),
        error: String(e),
      });
      return reply(500, "internal error; see the server log");
    }
  });
  return {
    port: server.port,
    async close() {
      for (const stream of streams) stream.close();
      await server.shutdown();
    },
  };
}

/** Catbus's server-side confirm: `?confirm=N[&confirm_timeout=5s]` waits for N consumer acks. */
function parseConfirm(url: URL): { confirm: number; confirmTimeoutMs: number } | undefined {
  const raw = url.searchParams.get("confirm");
  if (raw === null) return undefined;
  const confirm = Number(raw);
  if (!Number.isSafeInteger(confirm) || confirm < 1 || confirm > 1000) {
    throw new CatbusError(ErrorCode.BadRequest, "confirm must be a whole number from 1 to 1000");
  }
  const timeout = url.searchParams.get("confirm_timeout");
  const confirmTimeoutMs = timeout ? parseDuration(timeout) : 5000;
  if (!confirmTimeoutMs || confirmTimeoutMs > 600_000) {
    throw new CatbusError(ErrorCode.BadRequest, "confirm_timeout must be a duration up to 10m");
  }
  return { confirm, confirmTimeoutMs };
}
