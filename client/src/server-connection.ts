import { type Frame, FrameDecoder } from "../shared/frame.ts";
import type { Transport, TransportConnection } from "./transport.ts";
import { withConnectTimeout } from "./connect-timeout.ts";
import { startHeartbeat } from "./heartbeat.ts";

/** What a connection reports. */
export interface ConnectionEvents {
  frame(frame: Frame): void;
  /** The server sent bytes that are not frames: the connection is closed next. */
  unreadable(kind: string): void;
  /** The transport ended (by either side). */
  closed(): void;
}

/**
 * One transport connection to a server: frames in, bytes out, and whether the server still
 * answers (see heartbeat.ts).
 */
export class ServerConnection implements TransportConnection {
  readonly #transport: TransportConnection;
  readonly #decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 * 1024 });
  /** performance.now() when the server last sent anything. */
  #lastHeard = 0;
  /** Something was sent since the heartbeat last asked. */
  #sent = false;
  /** Stops the dead-peer detection. */
  #stopHeartbeat?: () => void;

  private constructor(transport: TransportConnection) {
    this.#transport = transport;
  }

  /** Connects to `url`, failing with `timeout` after `timeoutMs` (see connect-timeout.ts). */
  static async open(
    transport: Transport,
    url: string,
    timeoutMs: number,
    events: ConnectionEvents,
  ): Promise<ServerConnection> {
    const opening = transport.connect(url, {
      onData: (bytes) => connection.#onData(bytes, events),
      onClose: () => events.closed(),
    });
    const connection = new ServerConnection(await withConnectTimeout(opening, timeoutMs));
    return connection;
  }

  get kind(): string | undefined {
    return this.#transport.kind;
  }

  send(bytes: Uint8Array): void {
    this.#sent = true;
    this.#transport.send(bytes);
  }

  /**
   * Starts dead-peer detection: pings once the server, or this side, was silent for `interval`,
   * and calls `dead` when the server stays silent.
   */
  watch(interval: number, ping: () => void, dead: (silentMs: number) => void): void {
    this.#lastHeard = performance.now();
    this.#stopHeartbeat = startHeartbeat(interval, {
      lastHeard: () => this.#lastHeard,
      sentSinceAsked: () => {
        const sent = this.#sent;
        this.#sent = false;
        return sent;
      },
      ping,
      dead,
    });
  }

  close(): void {
    this.#stopHeartbeat?.();
    this.#stopHeartbeat = undefined;
    this.#transport.close();
  }

  #onData(bytes: Uint8Array, events: ConnectionEvents) {
    this.#lastHeard = performance.now();
    this.#decoder.push(bytes, (event) => {
      if (event.kind === "frame") events.frame(event.frame);
      else {
        events.unreadable(event.kind);
        this.#transport.close();
      }
    });
  }
}
