import { sseTransport } from "./sse-transport.ts";
import type { Transport, TransportConnection, TransportHandlers } from "./transport.ts";
import {
  webtransportTransport,
  type WebTransportTransportOptions,
} from "./webtransport-transport.ts";
import { websocketTransport } from "./websocket-transport.ts";

export type TransportKind = "webtransport" | "websocket" | "sse";

export interface AutoTransportOptions {
  /** Which to try, in order (default all three; WebTransport only where the runtime has it). */
  order?: TransportKind[];
  webtransport?: WebTransportTransportOptions;
}

/**
 * Tries WebTransport, then WebSocket, then SSE + POST, on every (re)connect: the first that
 * connects carries the session. Same API and semantics on all of them.
 */
export function autoTransport(options: AutoTransportOptions = {}): Transport {
  const make: Record<TransportKind, () => Transport> = {
    webtransport: () => webtransportTransport(options.webtransport),
    websocket: () => websocketTransport(),
    sse: () => sseTransport(),
  };
  const order = (options.order ?? ["webtransport", "websocket", "sse"]).filter((
    kind,
  ) => kind !== "webtransport" || "WebTransport" in globalThis);
  return {
    async connect(
      url: string,
      handlers: TransportHandlers,
    ): Promise<TransportConnection> {
      const failures: string[] = [];
      for (const kind of order) {
        try {
          return await make[kind]().connect(url, handlers);
        } catch (e) {
          failures.push(`${kind}: ${(e as Error).message}`);
        }
      }
      throw new Error(
        `no transport could connect to ${url} (${failures.join("; ")})`,
      );
    },
  };
}
