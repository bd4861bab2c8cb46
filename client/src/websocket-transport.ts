import { tickBatcher } from "./batcher.ts";
import type { Transport, TransportConnection, TransportHandlers } from "./transport.ts";

/**
 * The WebSocket URL for a server URL: `ws(s)://` as given (with `/ws` added when there is no
 * path), `http(s)://host:port` → `ws(s)://host:port/ws`.
 */
export function websocketUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  else if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new TypeError(
      `unsupported URL scheme ${u.protocol} for WebSocket; use ws://, wss://, http:// or https://`,
    );
  }
  if (u.pathname === "" || u.pathname === "/") u.pathname = "/ws";
  return u.toString();
}

/**
 * The default transport: the web-standard WebSocket (browsers, Deno, Node ≥ 22), one or more
 * native frames per binary message.
 */
/** WebSocket.OPEN, without touching a global that Node 20 lacks. */
const OPEN = 1;

export interface WebSocketTransportOptions {
  /**
   * The WebSocket class to use; default `globalThis.WebSocket`. On Node 20, which has none, pass
   * the `ws` package's: `websocketTransport({ WebSocket: (await import("ws")).WebSocket })`.
   */
  WebSocket?: typeof WebSocket;
}

export function websocketTransport(
  options: WebSocketTransportOptions = {},
): Transport {
  return {
    connect(
      url: string,
      handlers: TransportHandlers,
    ): Promise<TransportConnection> {
      const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
      if (!WebSocketClass) {
        return Promise.reject(
          new TypeError(
            "no WebSocket in this runtime; pass one: websocketTransport({ WebSocket })",
          ),
        );
      }
      return new Promise((resolve, reject) => {
        const socket = new WebSocketClass(websocketUrl(url));
        socket.binaryType = "arraybuffer";
        let opened = false;
        // Frames sent in one tick leave as one WebSocket message: per-message cost dominates.
        const send = tickBatcher((bytes) => {
          if (socket.readyState === OPEN) {
            socket.send(bytes as Uint8Array<ArrayBuffer>);
          }
        });
        socket.onopen = () => {
          opened = true;
          resolve({ kind: "websocket", send, close: () => socket.close(1000) });
        };
        socket.onmessage = (event) => {
          if (event.data instanceof ArrayBuffer) {
            handlers.onData(new Uint8Array(event.data));
          }
        };
        socket.onerror = () => {
          if (!opened) {
            reject(new Error(`cannot connect to ${websocketUrl(url)}`));
          }
        };
        socket.onclose = (event) => {
          if (!opened) {
            reject(
              new Error(
                `cannot connect to ${websocketUrl(url)} (${event.code})`,
              ),
            );
          } else handlers.onClose(event.reason || `closed (${event.code})`);
        };
      });
    },
  };
}
