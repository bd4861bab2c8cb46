import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { RcpTransport } from "./session.ts";

/** One accepted connection as the listener hands it over. */
export interface ConnectionHandler {
  /** A promise pauses reading until it resolves (outbound backpressure). */
  receive(chunk: Uint8Array): Promise<void> | void;
  closed(): void;
}

export interface RcpListenOptions {
  hostname: string;
  port: number;
  /** TLS through node:tls; with `ca` + `requireClientCert`, clients must present a certificate. */
  tls?: { cert: string; key: string; ca?: string; requireClientCert: boolean };
  maxConnections: number;
  /** Called instead of `accept` when the connection limit is reached (answer, then close). */
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

function admit(
  options: RcpListenOptions,
  open: Set<unknown>,
  conn: unknown,
  transport: RcpTransport,
) {
  if (open.size >= options.maxConnections) {
    options.refuse(transport);
    return undefined;
  }
  open.add(conn);
  return options.accept(transport);
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
    const handler = admit(options, open, conn, transport);
    if (!handler) return;
    try {
      // Each read is a fresh buffer: the decoders keep views on it.
      for await (const chunk of conn.readable) {
        const paused = handler.receive(chunk);
        if (paused) await paused;
      }
    } catch { /* reset by peer, or closed by us */ }
    alive = false;
    open.delete(conn);
    handler.closed();
  };
  (async () => {
    for await (const conn of listener) serve(conn);
  })().catch(() => {/* listener closed */});
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
    const handler = admit(options, open, socket, transport);
    if (!handler) return;
    socket.on("data", (chunk: Uint8Array) => {
      const paused = handler.receive(new Uint8Array(chunk));
      if (paused) {
        socket.pause();
        paused.then(() => socket.resume());
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      open.delete(socket);
      handler.closed();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
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
