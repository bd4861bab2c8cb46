import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { acceptLoop, type AcceptReport, type Admission } from "./accept-loop.ts";

export interface TlsListenOptions {
  cert: string;
  key: string;
  /** PEM of the CA that signs client certificates: with it, every client must present one (mTLS). */
  clientCa?: string;
}

export interface TcpListenOptions {
  hostname: string;
  port: number;
  /** TLS through node:tls, which (unlike Deno.listenTls) can verify client certificates. */
  tls?: TlsListenOptions;
}

/** A client certificate the listener verified against its client CA. */
export interface ClientIdentity {
  /** The subject's common name ("" when it has none). */
  commonName: string;
  /** SHA-256 of the certificate, lowercase hex without colons. */
  fingerprint: string;
}

/** One accepted connection: a byte stream to the client. */
export interface TcpConnection {
  /** `tcp:host:port`, for logs and per-connection names. */
  readonly remote: string;
  /** The client's address (no port), for per-address limits. */
  readonly hostname: string;
  /** Set under mTLS: the client's verified certificate. */
  readonly identity?: ClientIdentity;
  /** Resolves once the kernel took the bytes. */
  write(bytes: Uint8Array): Promise<void>;
  close(): void;
}

/** A byte-stream connection as its protocol sees it. */
export interface StreamHandler {
  /** A promise pauses reading until it settles (the handler cannot take more yet). */
  receive(chunk: Uint8Array): void | Promise<void>;
  /** The connection ended (either side closed it, or it broke). */
  connectionEnded(): void;
}

/** How a listener lets connections in: a slot each, a refusal when full, accept failures told. */
export interface Door {
  admit: Admission;
  /** Tells a connection over the limit why it is closed (it is not read from). */
  refuse(connection: TcpConnection): void;
  report: AcceptReport;
}

export interface TcpListener {
  readonly port: number;
  /** Stops accepting; open connections stay until their owners close them. */
  close(): void;
}

/**
 * Listens on TCP — plain with Deno.listen, TLS (and mTLS) with node:tls — and hands each
 * admitted connection to `accept`. Shared by every door that speaks over a raw byte stream.
 */
export function listenTcp(
  options: TcpListenOptions,
  accept: (connection: TcpConnection) => StreamHandler,
  door: Door,
): Promise<TcpListener> {
  const serve = (connection: TcpConnection): StreamHandler | undefined => {
    const release = door.admit();
    if (!release) return void door.refuse(connection);
    const handler = accept(connection);
    return {
      receive: (chunk) => handler.receive(chunk),
      connectionEnded: () => {
        release();
        handler.connectionEnded();
      },
    };
  };
  return options.tls
    ? listenTls(options, options.tls, serve, door.report)
    : Promise.resolve(listenPlain(options, serve, door.report));
}

type Serve = (connection: TcpConnection) => StreamHandler | undefined;

function listenPlain(options: TcpListenOptions, serve: Serve, report: AcceptReport): TcpListener {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  acceptLoop<Deno.TcpConn>(() => listener.accept(), (conn) => serveConn(conn, serve), report);
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: () => listener.close(),
  };
}

async function serveConn(conn: Deno.TcpConn, serve: Serve) {
  conn.setNoDelay(true);
  const addr = conn.remoteAddr;
  let open = true;
  const handler = serve({
    remote: `tcp:${addr.hostname}:${addr.port}`,
    hostname: addr.hostname,
    write: async (bytes) => {
      for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    },
    close: () => {
      if (!open) return;
      open = false;
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  });
  if (!handler) return;
  try {
    // Each read gets a fresh buffer: the decoders keep views on it.
    for await (const chunk of conn.readable) {
      const paused = handler.receive(chunk);
      if (paused) await paused;
    }
  } catch { /* reset by peer or closed by us */ }
  open = false;
  handler.connectionEnded();
}

function listenTls(
  options: TcpListenOptions,
  tls: TlsListenOptions,
  serve: Serve,
  report: AcceptReport,
): Promise<TcpListener> {
  const server = createTlsServer({
    cert: tls.cert,
    key: tls.key,
    ca: tls.clientCa,
    requestCert: tls.clientCa !== undefined,
    rejectUnauthorized: tls.clientCa !== undefined,
  }, (socket) => serveSocket(socket, tls.clientCa !== undefined, serve));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      // Later errors (a failed accept) must not end the process; node:net keeps listening.
      server.on("error", (e) => report.failing(e));
      resolve({
        port: (server.address() as { port: number }).port,
        close: () => server.close(),
      });
    });
  });
}

function serveSocket(socket: TLSSocket, verified: boolean, serve: Serve) {
  socket.setNoDelay(true);
  const hostname = socket.remoteAddress ?? "";
  const handler = serve({
    remote: `tcp:${hostname}:${socket.remotePort}`,
    hostname,
    identity: verified ? identityOf(socket) : undefined,
    write: (bytes) =>
      new Promise((resolve, reject) => {
        socket.write(bytes, (e) => e ? reject(e) : resolve());
      }),
    close: () => socket.destroy(),
  });
  socket.on("error", () => socket.destroy());
  if (!handler) return;
  socket.on("data", (chunk: Uint8Array) => {
    // A copy: the decoders keep views on what they are given.
    const paused = handler.receive(new Uint8Array(chunk));
    if (paused) {
      socket.pause();
      paused.then(() => socket.resume());
    }
  });
  socket.on("close", () => handler.connectionEnded());
}

function identityOf(socket: TLSSocket): ClientIdentity {
  const cert = socket.getPeerCertificate();
  const cn = cert.subject?.CN;
  return {
    commonName: Array.isArray(cn) ? cn[0] : cn ?? "",
    fingerprint: cert.fingerprint256.replaceAll(":", "").toLowerCase(),
  };
}
