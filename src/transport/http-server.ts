import { type AcceptReport, type Admission, retryDelayMs } from "./accept-loop.ts";

/** How long a shutdown waits for responses in progress before it drops their connections. */
const SHUTDOWN_GRACE_MS = 1000;

export interface HttpDoorOptions {
  hostname: string;
  port: number;
  cert?: string;
  key?: string;
  onError?: (error: unknown) => Response;
  /** A slot per request in progress (an open event stream or WebSocket holds its slot). */
  admit: Admission;
  report: AcceptReport;
}

/**
 * A request's handler. `keep()` takes over the request's slot, for a connection that outlives
 * the response (a WebSocket): call what it returns when that connection ends.
 */
export type DoorHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  keep: () => () => void,
) => Response | Promise<Response>;

export interface HttpDoor {
  readonly port: number;
  shutdown(): Promise<void>;
}

const refusal = () =>
  new Response(
    JSON.stringify({
      code: "limit_exceeded",
      message: "the server is at its connection limit (--max-connections, " +
        "--max-connections-per-door); retry later",
    }) + "\n",
    { status: 503, headers: { "content-type": "application/json", connection: "close" } },
  );

/**
 * An HTTP listener (Deno.serve) that survives its accept failing. Deno.serve accepts
 * internally; when an accept fails (EMFILE: out of file descriptors) its loop ends and
 * `finished` rejects, which unobserved would end the process. Here that is reported once and
 * the listener is started again on the same address after a back-off, until it can bind.
 * Connections are invisible to Deno.serve's handler, so the slots count requests in progress.
 */
export function serveHttpDoor(options: HttpDoorOptions, handler: DoorHandler): HttpDoor {
  const { admit, report, ...listen } = options;
  const serve = (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> => {
    const release = admit();
    if (!release) return refusal();
    let kept = false;
    const keep = () => {
      kept = true;
      return release;
    };
    inFlight++;
    info.completed.finally(() => {
      if (--inFlight === 0) idle?.();
      if (!kept) release();
    }).catch(() => {});
    return handler(request, info, keep);
  };
  let stopped = false;
  /** Responses not yet completed; `idle` is called when the count drops to 0. */
  let inFlight = 0;
  let idle: (() => void) | undefined;
  // Deno.serve's graceful shutdown waits for every response, and one whose client stopped
  // reading never completes. So a shutdown waits for responses itself, for a while, then aborts:
  // that closes the listener and drops every connection at once.
  const abort = new AbortController();
  const start = (port: number) => {
    // Binds synchronously: a taken port throws here.
    const server = Deno.serve(
      { ...listen, port, signal: abort.signal, onListen: () => {} },
      serve,
    );
    server.finished.catch((e) => {
      if (!stopped) restart(server.addr.port, e);
    });
    return server;
  };
  let current = start(listen.port);
  const port = current.addr.port;
  const restart = async (port: number, error: Error) => {
    report.failing(error);
    for (let failures = 1; !stopped; failures++) {
      await new Promise((r) => setTimeout(r, retryDelayMs(failures)));
      if (stopped) return;
      try {
        current = start(port);
        report.recovered(failures);
        return;
      } catch { /* still out of descriptors, or the port is taken: try again */ }
    }
  };
  return {
    port,
    async shutdown() {
      stopped = true;
      if (inFlight > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          idle = resolve;
          timer = setTimeout(resolve, SHUTDOWN_GRACE_MS);
        });
        clearTimeout(timer);
      }
      abort.abort();
      await current.finished.catch(() => {});
    },
  };
}
