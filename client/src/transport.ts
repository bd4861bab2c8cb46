/**
 * How the client moves bytes. A transport knows nothing of frames' meaning: it delivers byte
 * chunks in order and reports the end of the connection. Pass one to `CatbusClient` (the
 * WebSocket transport is the default); nothing is registered globally.
 */
export interface TransportHandlers {
  /** Bytes from the server, in order. Chunks may hold several frames or part of one. */
  onData(bytes: Uint8Array): void;
  /** The connection ended (by either side). Called once. */
  onClose(reason?: string): void;
}

export interface TransportConnection {
  /** Which transport carries it: "websocket", "webtransport", "sse", "tcp". */
  readonly kind?: string;
  /** Queues bytes for the server; never blocks. */
  send(bytes: Uint8Array): void;
  close(): void;
}

export interface Transport {
  /** Resolves once bytes can flow; rejects when the server cannot be reached. */
  connect(
    url: string,
    handlers: TransportHandlers,
  ): Promise<TransportConnection>;
}
