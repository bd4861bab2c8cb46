import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { RcpTransport } from "./session.ts";
import { acceptLoop, type AcceptReport, type Admission } from "../../transport/accept-loop.ts";

/** One accepted connection as the listener hands it over. */
export interface ConnectionHandler {
  /** A promise pauses reading until it resolves (outbound backpressure). */
  receive(chunk: Uint8Array): Promise<void> | void;
  closed(): void;
  /** Whether the client has said HELLO (until then the hello timeout runs). */
  readonly greeted: boolean;
}

export interface RcpListenOptions {
  hostname: string;
  port: number;
  /** TLS through node:tls; with `ca` + `requireClientCert`, clients must present a certificate. */
  tls?: { cert: string; key: string; ca?: string; requireClientCert: boolean };
  maxConnections: number;
  /** The server-wide count (--max-connections): a slot per connection. */
  admit: Admission;
  report: AcceptReport;
  /** A connection without HELLO this long after it opened is closed. */
  helloTimeoutMs: number;
  /** A connection with no bytes either way for this long is closed (rstmdb: 300 s). */
  idleTimeoutMs: number;
  /** Called instead of `accept` when a connection limit is reached (answer, then close). */
  refuse: (transport: RcpTransport) => void;
  accept: (transport: RcpTransport) => ConnectionHandler;
}

export interface RcpListener {
  port: number;
  close(): Promise<void>;
}

/** Listens for RCP clients: plain TCP with Deno.listen, TLS (and mTLS) with node:tls. */
export function listenRcp(options: RcpListenOptions): Promise<RcpListener> {
  return options.tls ? listenTls(options, options.tls) : Promise.resolve(listenPlain(options));
}

/** A served connection: its handler, and what to call on traffic and at its end. */
interface Served {
  handler: ConnectionHandler;
  /** Bytes went in or out: the idle timeout starts again. */
  active(): void;
  ended(): void;
}

/**
 * Lets a connection in (or refuses it over a limit) and watches it: closed when HELLO does not
 * come within the hello timeout, or when nothing moves for the idle timeout.
 */
function admit(
  options: RcpListenOptions,
  open: Set<unknown>,
  conn: unknown,
  transport: RcpTransport,
): Served | undefined {
  const release = open.size < options.maxConnections ? options.admit() : undefined;
  if (!release) {
    options.refuse(transport);
    return undefined;
  }
  open.add(conn);
  let lastActive = Date.now();
  const watched: RcpTransport = {
    remote: transport.remote,
    write: (bytes) => {
      lastActive = Date.now();
      return transport.write(bytes);
    },
    close: () => transport.close(),
  };
  const handler = options.accept(watched);
  const hello = setTimeout(() => handler.greeted || transport.close(), options.helloTimeoutMs);
  let idle: ReturnType<typeof setTimeout>;
  const checkIdle = () => {
    const quiet = Date.now() - lastActive;
    if (quiet >= options.idleTimeoutMs) transport.close();
    else idle = setTimeout(checkIdle, options.idleTimeoutMs - quiet);
  };
  idle = setTimeout(checkIdle, options.idleTimeoutMs);
  return {
    handler,
    active: () => lastActive = Date.now(),
    ended: () => {
      clearTimeout(hello);
      clearTimeout(idle);
      open.delete(conn);
      release();
      handler.closed();
    },
  };
}

function listenPlain(options: RcpListenOptions): RcpListener {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const open = new Set<Deno.Conn>();
  const serve = async (conn: Deno.TcpConn) => {
    conn.setNoDelay(true);
    let alive = true;
    const transport: RcpTransport = {
      remote: (conn.remoteAddr as Deno.NetAddr).hostname,
      write: async (bytes) => {
        for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
      },
      close: () => {
        if (!alive) return;
        alive = false;
        try {
          conn.close();
        } catch { /* already closed */ }
      },
    };
    const served = admit(options, open, conn, transport);
    if (!served) return;
    try {
      // Each read is a fresh buffer: the decoders keep views on it.
      for await (const chunk of conn.readable) {
        served.active();
        const paused = served.handler.receive(chunk);
        if (paused) await paused;
      }
    } catch { /* reset by peer, or closed by us */ }
    alive = false;
    served.ended();
  };
  acceptLoop(() => listener.accept(), serve, options.report);
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      return Promise.resolve();
    },
  };
}

function listenTls(
  options: RcpListenOptions,
  tls: NonNullable<RcpListenOptions["tls"]>,
): Promise<RcpListener> {
  const open = new Set<TLSSocket>();
  const server = createTlsServer({
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca,
    requestCert: tls.requireClientCert,
    rejectUnauthorized: tls.requireClientCert,
  }, (socket) => {
    socket.setNoDelay(true);
    const transport: RcpTransport = {
      remote: socket.remoteAddress ?? "",
      write: (bytes) =>
        new Promise((resolve, reject) => {
          socket.write(bytes, (e) => e ? reject(e) : resolve());
        }),
      close: () => socket.destroy(),
    };
    const served = admit(options, open, socket, transport);
    if (!served) return;
    socket.on("data", (chunk: Uint8Array) => {
      served.active();
      const paused = served.handler.receive(new Uint8Array(chunk));
      if (paused) {
        socket.pause();
        paused.then(() => socket.resume());
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => served.ended());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      // Later errors (a failed accept) must not end the process; node:net keeps listening.
      server.on("error", (e) => options.report.failing(e));
      resolve({
        port: (server.address() as { port: number }).port,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of open) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
