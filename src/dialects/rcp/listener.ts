import {
  type Door,
  listenTcp,
  type StreamHandler,
  type TcpConnection,
  type TlsListenOptions,
} from "../../transport/tcp.ts";

/** One accepted connection as the RCP door serves it. */
export interface ConnectionHandler extends StreamHandler {
  /** Whether the client has said HELLO (until then the hello timeout runs). */
  readonly greeted: boolean;
}

export interface RcpListenOptions {
  hostname: string;
  port: number;
  tls?: TlsListenOptions;
  /** RCP's own bound (--rcp-max-connections), checked before the server-wide slots of `door`. */
  maxConnections: number;
  door: Door;
  /** A connection without HELLO this long after it opened is closed. */
  helloTimeoutMs: number;
  /** A connection with no bytes either way for this long is closed (rstmdb: 300 s). */
  idleTimeoutMs: number;
  accept: (connection: TcpConnection) => ConnectionHandler;
}

export interface RcpListener {
  port: number;
  /** Stops accepting and closes every open connection. */
  close(): void;
}

/**
 * The RCP door on the shared TCP listener: its own connection bound, and each connection
 * watched — closed when HELLO does not come within the hello timeout, or when nothing moves
 * for the idle timeout.
 */
export async function listenRcp(options: RcpListenOptions): Promise<RcpListener> {
  const open = new Set<TcpConnection>();
  const { door } = options;
  const listener = await listenTcp(options, (connection) => watch(options, open, connection), {
    ...door,
    admit: () => open.size < options.maxConnections ? door.admit() : undefined,
  });
  return {
    port: listener.port,
    close() {
      listener.close();
      for (const connection of open) connection.close();
    },
  };
}

function watch(
  options: RcpListenOptions,
  open: Set<TcpConnection>,
  connection: TcpConnection,
): StreamHandler {
  open.add(connection);
  let lastActive = Date.now();
  const handler = options.accept({
    ...connection,
    write: (bytes) => {
      lastActive = Date.now();
      return connection.write(bytes);
    },
  });
  const hello = setTimeout(() => handler.greeted || connection.close(), options.helloTimeoutMs);
  let idle: ReturnType<typeof setTimeout>;
  const checkIdle = () => {
    const quiet = Date.now() - lastActive;
    if (quiet >= options.idleTimeoutMs) connection.close();
    else idle = setTimeout(checkIdle, options.idleTimeoutMs - quiet);
  };
  idle = setTimeout(checkIdle, options.idleTimeoutMs);
  return {
    receive: (chunk) => {
      lastActive = Date.now();
      return handler.receive(chunk);
    },
    connectionEnded: () => {
      clearTimeout(hello);
      clearTimeout(idle);
      open.delete(connection);
      handler.connectionEnded();
    },
  };
}
