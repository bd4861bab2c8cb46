/**
 * A raw TCP transport for Deno: `tcp://host:4434`, or `tcps://host:4434` for TLS.
 *
 * @example
 * ```ts
 * import { CatbusClient } from "@catbus/client";
 * import { tcpTransport } from "@catbus/client/deno-tcp";
 * const client = new CatbusClient({ url: "tcp://127.0.0.1:4434", token, transport: tcpTransport() });
 * ```
 */
import type { Transport, TransportConnection, TransportHandlers } from "./src/transport.ts";
import { concat } from "./shared/bytes.ts";

export interface TcpTransportOptions {
  /** Extra CA certificates (PEM) to trust for `tcps://`. */
  caCerts?: string[];
}

export function tcpTransport(options: TcpTransportOptions = {}): Transport {
  return {
    async connect(
      url: string,
      handlers: TransportHandlers,
    ): Promise<TransportConnection> {
      const u = new URL(url);
      if (u.protocol !== "tcp:" && u.protocol !== "tcps:") {
        throw new TypeError(
          `tcpTransport needs a tcp:// or tcps:// URL, got ${url}`,
        );
      }
      const target = { hostname: u.hostname, port: Number(u.port || 4434) };
      const conn: Deno.Conn = u.protocol === "tcps:"
        ? await Deno.connectTls({ ...target, caCerts: options.caCerts })
        : await Deno.connect(target);
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      let open = true;
      let queue: Uint8Array[] = [];
      let writing = false;
      // One writer at a time: chunks queued while a write is in progress leave together.
      const flush = async () => {
        if (writing) return;
        writing = true;
        try {
          while (queue.length && open) {
            const parts = queue;
            queue = [];
            const batch = parts.length === 1 ? parts[0] : concat(parts);
            for (let off = 0; off < batch.length;) {
              off += await conn.write(batch.subarray(off));
            }
          }
        } catch {
          close();
        } finally {
          writing = false;
        }
      };
      const close = () => {
        if (!open) return;
        open = false;
        try {
          conn.close();
        } catch { /* already closed */ }
      };
      (async () => {
        try {
          for await (const chunk of conn.readable) handlers.onData(chunk);
        } catch { /* reset or closed by us */ }
        open = false;
        handlers.onClose("connection closed");
      })();
      return {
        kind: "tcp",
        send(bytes) {
          if (!open) return;
          queue.push(bytes);
          flush();
        },
        close,
      };
    },
  };
}
