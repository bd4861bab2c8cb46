import { acceptLoop, type AcceptReport, type Admission, refuseWith } from "./accept-loop.ts";
import {
  type ConnectionHandler,
  DEFAULT_HTTP_LIMITS,
  HttpConnection,
  type HttpLimits,
  type RequestInfo,
} from "./http-connection.ts";
import { type Answer, plainAnswer, wholeResponse } from "./http-response.ts";
import type { HttpRequest } from "./http-request.ts";

export { DEFAULT_HTTP_LIMITS, type HttpLimits, type RequestInfo };

/** How long a shutdown waits for responses in progress before it drops their connections. */
const SHUTDOWN_GRACE_MS = 1000;

export interface HttpDoorOptions {
  hostname: string;
  port: number;
  cert?: string;
  key?: string;
  onError?: (error: unknown) => Response;
  /** A slot per connection, taken when it is accepted and given back when it closes. */
  admit: Admission;
  report: AcceptReport;
  limits?: HttpLimits;
}

/**
 * A request's handler. `keep()` returns the connection's slot's release, for a connection that
 * outlives the response (a WebSocket): calling it gives the slot back early (once).
 */
export type DoorHandler<R extends HttpRequest = Request> = (
  request: R,
  info: RequestInfo,
  keep: () => () => void,
) => Answer | Promise<Answer>;

export interface HttpDoor {
  readonly port: number;
  shutdown(): Promise<void>;
}

/** What is read of a refused connection's request before the refusal is written. */
const READ_BEFORE_REFUSAL = 4096;

const REFUSAL = plainAnswer(
  503,
  "limit_exceeded",
  "the server is at its connection limit (--max-connections, --max-connections-per-door); " +
    "retry later",
);

const internalError = () =>
  wholeResponse(JSON.stringify({ code: "internal", message: "internal error" }) + "\n", {
    status: 500,
    headers: { "content-type": "application/json" },
  });

/**
 * An HTTP/1.1 listener (Deno.listen or Deno.listenTls, our own HTTP and WebSocket) for the
 * native HTTP door, Bus and every door to come. Every connection takes a slot when accepted
 * (refused at once with a 503 when the door is full), must finish its request headers within
 * `headerTimeoutMs` and is closed after `idleTimeoutMs` without a request. Accepting survives
 * running out of file descriptors (see acceptLoop).
 */
export function serveHttpDoor(options: HttpDoorOptions, handler: DoorHandler): HttpDoor {
  // Each request is made a WHATWG Request before the handler sees it (`lean` false).
  return serve(options, false, handler as DoorHandler<HttpRequest>);
}

/**
 * `serveHttpDoor` for a handler that reads only what HttpRequest lists: it is handed the
 * transport's IncomingRequest, with no WHATWG Request built per request.
 */
export function serveLeanHttpDoor(
  options: HttpDoorOptions,
  handler: DoorHandler<HttpRequest>,
): HttpDoor {
  return serve(options, true, handler);
}

function serve(
  options: HttpDoorOptions,
  lean: boolean,
  handler: DoorHandler<HttpRequest>,
): HttpDoor {
  const { admit, report, onError, limits = DEFAULT_HTTP_LIMITS } = options;
  const { cert, key } = options;
  const tls = cert !== undefined && key !== undefined;
  const listener = tls
    ? Deno.listenTls({
      hostname: options.hostname,
      port: options.port,
      cert,
      key,
      alpnProtocols: ["http/1.1"],
    })
    : Deno.listen({ hostname: options.hostname, port: options.port });
  const connections = new Set<HttpConnection>();
  let stopped = false;
  let allClosed: (() => void) | undefined;
  const connectionHandler: ConnectionHandler = {
    scheme: tls ? "https" : "http",
    hostname: options.hostname,
    limits,
    lean,
    get stopping() {
      return stopped;
    },
    answer: async (request, info, keep) => {
      try {
        return await handler(request, info, keep);
      } catch (e) {
        return onError?.(e) ?? internalError();
      }
    },
    ended(connection) {
      connections.delete(connection);
      if (connections.size === 0) allClosed?.();
    },
  };
  const serve = (conn: Deno.Conn) => {
    const release = stopped ? undefined : admit();
    if (!release) {
      // Answered once the request comes (an HTTP client takes no answer before it asked).
      return refuseWith(async () => {
        await conn.read(new Uint8Array(READ_BEFORE_REFUSAL));
        for (let off = 0; off < REFUSAL.length;) off += await conn.write(REFUSAL.subarray(off));
      }, () => conn.close());
    }
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    connections.add(new HttpConnection(conn, connectionHandler, release));
  };
  void acceptLoop(() => listener.accept(), serve, report);
  // One timer for every connection's header and idle deadline.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const c of connections) if (c.deadline <= now) c.close();
  }, Math.max(10, Math.min(1000, limits.headerTimeoutMs / 4, limits.idleTimeoutMs / 4)));
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async shutdown() {
      stopped = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      // Idle connections go now; requests in progress (and WebSockets finishing their close
      // handshake) get a grace period, then their connections are dropped: a client that
      // stopped reading would hold a response forever.
      for (const c of connections) if (c.idle) c.close();
      if (connections.size > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          allClosed = resolve;
          timer = setTimeout(resolve, SHUTDOWN_GRACE_MS);
        });
        clearTimeout(timer);
      }
      for (const c of connections) c.close();
      clearInterval(sweep);
    },
  };
}
