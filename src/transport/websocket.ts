import type { SessionTransport } from "../protocol/session.ts";
import type { StreamHandler } from "./tcp.ts";
import { type ServerWebSocket, type SocketListener, upgradeWebSocket } from "./websocket-server.ts";

/** Above this many bytes not yet taken by the kernel, writes wait until the socket drained. */
const HIGH_WATER = 1024 * 1024;

/** Resolves once `socket` has sent its buffer down to `low` bytes (or all of it), or closed. */
export function drained(socket: ServerWebSocket, low = 0): Promise<void> {
  if (socket.readyState !== socket.OPEN || socket.bufferedAmount <= low) return Promise.resolve();
  return socket.drained();
}

/**
 * A native session's WebSocket: each batch of frames is one binary message. It hears the socket
 * itself (one object per connection, no closures kept by an idle one).
 */
class NativeSocket implements SessionTransport, SocketListener {
  readonly remote: string;
  readonly #accept: (transport: SessionTransport) => StreamHandler;
  readonly #onClosed: () => void;
  #socket?: ServerWebSocket;
  #handler?: StreamHandler;

  constructor(
    remote: string,
    accept: (transport: SessionTransport) => StreamHandler,
    onClosed: () => void,
  ) {
    this.remote = remote;
    this.#accept = accept;
    this.#onClosed = onClosed;
  }

  write(batch: Uint8Array): Promise<void> | void {
    const socket = this.#socket!;
    if (socket.readyState !== socket.OPEN) throw new Error("websocket closed");
    socket.send(batch as Uint8Array<ArrayBuffer>);
    if (socket.bufferedAmount > HIGH_WATER) return drained(socket);
  }

  close(): void {
    const socket = this.#socket!;
    if (socket.readyState <= socket.OPEN) socket.close(1000);
  }

  opened(socket: ServerWebSocket): void {
    this.#socket = socket;
    this.#handler = this.#accept(this);
  }

  message(data: string | Uint8Array): void {
    if (typeof data !== "string") {
      const paused = this.#handler?.receive(data);
      if (paused) this.#socket!.pauseReading(paused);
    } else {
      // Text is not part of the protocol: say so and close (1003 = unsupported data).
      this.#socket!.close(1003, "send binary frames; see docs/protocol.md");
    }
  }

  closed(): void {
    this.#onClosed();
    this.#handler?.connectionEnded();
  }
}

/**
 * Upgrades an HTTP request (of an HTTP door) to a WebSocket carrying native frames: each binary
 * message holds one or more whole frames.
 */
export function acceptWebSocket(
  request: Request,
  remote: string,
  accept: (transport: SessionTransport) => StreamHandler,
  onClosed: () => void = () => {},
): Response {
  const listener = new NativeSocket(`ws:${remote}`, accept, onClosed);
  return upgradeWebSocket(request, { listener }).response;
}

/** A WebSocket of JSON text messages, as a dialect's door sees it. */
export interface TextSocket {
  readonly remote: string;
  /** Bytes written but not yet sent (the socket's own buffer: the client reads slowly). */
  readonly buffered: number;
  send(text: string): void;
  /** A text message encoded once as a frame (`textFrame`) for many sockets. */
  sendFrame(frame: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export interface TextSocketHandler {
  onOpen(socket: TextSocket): void;
  onText(text: string): void;
  onClose(): void;
}

/**
 * Upgrades an HTTP request to a WebSocket of text messages (a dialect's JSON protocol). Binary
 * messages are refused with close code 1003. The door bounds what it queues with `buffered`.
 */
export function acceptTextWebSocket(
  request: Request,
  remote: string,
  handler: TextSocketHandler,
  onClosed: () => void = () => {},
): Response {
  const { socket, response } = upgradeWebSocket(request);
  const text: TextSocket = {
    remote: `ws:${remote}`,
    get buffered() {
      return socket.bufferedAmount;
    },
    send(message) {
      if (socket.readyState === WebSocket.OPEN) socket.send(message);
    },
    sendFrame(frame) {
      if (socket.readyState === WebSocket.OPEN) socket.sendFrame(frame);
    },
    close(code = 1000, reason) {
      if (socket.readyState <= WebSocket.OPEN) socket.close(code, reason);
    },
  };
  socket.onopen = () => handler.onOpen(text);
  socket.onmessage = (event) => {
    if (typeof event.data === "string") handler.onText(event.data);
    else socket.close(1003, "send JSON text messages");
  };
  socket.onclose = () => {
    onClosed();
    handler.onClose();
  };
  socket.onerror = () => {};
  return response;
}
