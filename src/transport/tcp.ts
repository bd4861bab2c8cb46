import type { SessionTransport } from "../protocol/session.ts";
import { acceptLoop, type AcceptReport, type Admission } from "./accept-loop.ts";

export interface TcpListenOptions {
  hostname: string;
  port: number;
  cert?: string;
  key?: string;
}

/** A byte-stream connection as the session sees it. */
export interface StreamHandler {
  receive(chunk: Uint8Array): void;
  closed(): void;
}

/** How a listener lets connections in: a slot each, a refusal when full, accept failures told. */
export interface Door {
  admit: Admission;
  /** Tells a connection over the limit why it is closed (it is not read from). */
  refuse(transport: SessionTransport): void;
  report: AcceptReport;
}

/** Listens on TCP (TLS when cert and key are given) and hands each connection to `accept`. */
export function listenTcp(
  options: TcpListenOptions,
  accept: (transport: SessionTransport) => StreamHandler,
  door: Door,
): Deno.Listener {
  const listener = options.cert && options.key
    ? Deno.listenTls({ ...options, cert: options.cert, key: options.key })
    : Deno.listen({ hostname: options.hostname, port: options.port });
  acceptLoop<Deno.Conn>(
    () => listener.accept(),
    (conn) => serveConn(conn, accept, door),
    door.report,
  );
  return listener;
}

async function serveConn(
  conn: Deno.Conn,
  accept: (t: SessionTransport) => StreamHandler,
  door: Door,
) {
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  const addr = conn.remoteAddr as Deno.NetAddr;
  let open = true;
  const transport: SessionTransport = {
    remote: `tcp:${addr.hostname}:${addr.port}`,
    write: async (batch) => {
      for (let off = 0; off < batch.length;) {
        off += await conn.write(batch.subarray(off));
      }
    },
    close: () => {
      if (!open) return;
      open = false;
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  };
  const release = door.admit();
  if (!release) return door.refuse(transport);
  const handler = accept(transport);
  try {
    // Each read gets a fresh buffer: the decoder keeps views on it.
    for await (const chunk of conn.readable) handler.receive(chunk);
  } catch { /* reset by peer or closed by us */ }
  open = false;
  release();
  handler.closed();
}
