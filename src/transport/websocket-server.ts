import { createHash } from "node:crypto";
import type { UpgradedConnection, UpgradeReceiver } from "./http-connection.ts";
import { upgradeOffers } from "./http-connection.ts";
import {
  CloseCode,
  encodeFrame,
  type FrameEvents,
  FrameReader,
  isSendableCloseCode,
  Opcode,
} from "./websocket-frames.ts";
import type { HttpRequest } from "./http-request.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** After sending a close frame, how long the peer has to answer before the socket is dropped. */
const CLOSE_WAIT_MS = 5000;

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

type Handler<E extends Event> = ((this: ServerWebSocket, event: E) => void) | null;

/**
 * What a door may hear a socket through instead of the on* handlers and listeners: plain calls,
 * no Event object per message, and one object with shared methods per socket rather than
 * closures (which an idle socket would keep). No error event: the close follows it.
 */
export interface SocketListener {
  opened(socket: ServerWebSocket): void;
  /** A whole message: text checked to be UTF-8, binary as bytes of its own. */
  message(data: string | Uint8Array): void;
  closed(): void;
}

/**
 * The server side of a WebSocket, shaped as the standard WebSocket its callers know
 * (readyState, binaryType, bufferedAmount, send, close, the on* handlers and event listeners).
 * Text is checked to be UTF-8 (1007), pings are answered, the close handshake is completed and
 * a peer that does not finish it is dropped after 5 s.
 */
export class ServerWebSocket extends EventTarget {
  /**
   * What the frame reader and the connection call: one small object per socket whose methods
   * are shared (in the class body, so they reach the socket's private members), where closures
   * would cost every idle socket a few hundred bytes.
   */
  static readonly #Wire = class implements FrameEvents, UpgradeReceiver {
    constructor(readonly socket: ServerWebSocket) {}
    message(opcode: 1 | 2, data: Uint8Array) {
      this.socket.#message(opcode, data);
    }
    control(opcode: number, payload: Uint8Array) {
      this.socket.#control(opcode, payload);
    }
    error(code: number, reason: string) {
      this.socket.#fail(code, reason);
    }
    receive(bytes: Uint8Array) {
      const socket = this.socket;
      if (socket.readyState === 3) return;
      socket.#reader.feed(bytes);
      const paused = socket.#paused;
      socket.#paused = undefined;
      return paused;
    }
    ended() {
      this.socket.#ended();
    }
  };
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  // On the prototype (set below), as the standard WebSocket has them: not kept per socket.
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;
  declare readonly extensions: "";
  static {
    const shared = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3, extensions: "" };
    for (const [name, value] of Object.entries(shared)) {
      Object.defineProperty(this.prototype, name, { value, enumerable: true });
    }
  }
  readonly url: string;
  /** The subprotocol the server chose (Sec-WebSocket-Protocol), or "". */
  readonly protocol: string;
  binaryType: BinaryType = "blob";
  readyState = 0;
  onopen: Handler<Event> = null;
  onmessage: Handler<MessageEvent> = null;
  onclose: Handler<CloseEvent> = null;
  onerror: Handler<Event> = null;
  #io?: UpgradedConnection;
  readonly #wire: FrameEvents & UpgradeReceiver;
  readonly #reader: FrameReader;
  readonly #listener?: SocketListener;
  #closeSent = false;
  #closeReceived?: { code: number; reason: string };
  #closeTimer?: ReturnType<typeof setTimeout>;
  #listened = false;
  #paused?: Promise<void>;

  constructor(url: string, maxMessageBytes: number, protocol = "", listener?: SocketListener) {
    super();
    this.url = url;
    this.protocol = protocol;
    this.#listener = listener;
    this.#wire = new ServerWebSocket.#Wire(this);
    this.#reader = new FrameReader(maxMessageBytes, this.#wire);
  }

  get bufferedAmount(): number {
    return this.#io?.writer.buffered ?? 0;
  }

  /** Resolves once every message sent so far was taken by the kernel (or the socket closed). */
  drained(): Promise<void> {
    return this.#io?.writer.drained() ?? Promise.resolve();
  }

  /**
   * Reads nothing more from the client until `until` settles — for a message handler that
   * cannot take more yet; TCP flow control then holds the client back.
   */
  pauseReading(until: Promise<void>): void {
    this.#paused = until;
  }

  override addEventListener(
    ...args: Parameters<EventTarget["addEventListener"]>
  ): void {
    this.#listened = true;
    super.addEventListener(...args);
  }

  send(data: string | ArrayBufferLike | ArrayBufferView): void {
    if (this.readyState === 0) {
      throw new DOMException("the WebSocket is not open yet", "InvalidStateError");
    }
    if (this.readyState !== 1) return;
    if (typeof data === "string") return this.#write(Opcode.Text, encoder.encode(data));
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
    this.#write(Opcode.Binary, bytes);
  }

  /**
   * Queues a whole server frame encoded beforehand (`textFrame`), e.g. one message sent to many
   * sockets; the buffer is written as it is and must not change afterwards.
   */
  sendFrame(frame: Uint8Array): void {
    if (this.readyState === 0) {
      throw new DOMException("the WebSocket is not open yet", "InvalidStateError");
    }
    if (this.readyState === 1) this.#io!.writer.write(frame);
  }

  close(code?: number, reason = ""): void {
    if (code !== undefined && !isSendableCloseCode(code)) {
      throw new DOMException(`close code ${code} cannot be sent`, "InvalidAccessError");
    }
    const why = encoder.encode(reason);
    if (why.length > 123) throw new DOMException("close reason over 123 bytes", "SyntaxError");
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this.#sendClose(code, why);
  }

  /** Takes over the connection once the 101 is queued; what the client sent next follows. */
  adopt(io: UpgradedConnection): UpgradeReceiver {
    this.#io = io;
    this.readyState = 1;
    if (this.#listener) this.#tell(this.#listener, "open");
    else this.#fire("open", new Event("open"));
    return this.#wire;
  }

  #write(opcode: number, payload: Uint8Array) {
    this.#io!.writer.write(encodeFrame(opcode, payload));
  }

  #sendClose(code: number | undefined, reason: Uint8Array) {
    if (this.#closeSent || !this.#io) return;
    this.#closeSent = true;
    let payload = new Uint8Array(0);
    if (code !== undefined) {
      payload = new Uint8Array(2 + reason.length);
      payload[0] = code >> 8;
      payload[1] = code & 0xff;
      payload.set(reason, 2);
    }
    this.#write(Opcode.Close, payload);
    if (this.#closeReceived) {
      const io = this.#io;
      io.writer.drained().then(() => io.close());
    } else {
      this.#closeTimer = setTimeout(() => this.#io?.close(), CLOSE_WAIT_MS);
    }
  }

  #message(opcode: 1 | 2, data: Uint8Array) {
    if (this.readyState !== 1) return;
    let value: string | Uint8Array;
    if (opcode === Opcode.Text) {
      try {
        value = utf8.decode(data);
      } catch {
        return this.#fail(CloseCode.InvalidData, "text message is not valid UTF-8");
      }
    } else value = data;
    if (this.#listener) return this.#tell(this.#listener, "message", value);
    const eventData = typeof value === "string"
      ? value
      : this.binaryType === "arraybuffer"
      ? data.buffer as ArrayBuffer
      : new Blob([data as Uint8Array<ArrayBuffer>]);
    this.#fire("message", new MessageEvent("message", { data: eventData }));
  }

  #control(opcode: number, payload: Uint8Array) {
    if (opcode === Opcode.Ping) {
      if (this.readyState === 1) this.#write(Opcode.Pong, payload);
      return;
    }
    if (opcode !== Opcode.Close) return;
    let code: number = CloseCode.NoStatus;
    let reason = "";
    if (payload.length === 1) return this.#fail(CloseCode.ProtocolError, "close payload of 1 byte");
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!isSendableCloseCode(code)) {
        return this.#fail(CloseCode.ProtocolError, `invalid close code ${code}`);
      }
      try {
        reason = utf8.decode(payload.subarray(2));
      } catch {
        return this.#fail(CloseCode.InvalidData, "close reason is not valid UTF-8");
      }
    }
    this.#closeReceived = { code, reason };
    if (this.#closeSent) {
      this.#io!.close();
      return;
    }
    this.readyState = 2;
    // Echo the code (RFC 6455 §5.5.1), then end the TCP connection: the server closes first.
    this.#sendClose(code === CloseCode.NoStatus ? undefined : code, payload.subarray(2));
  }

  /** The peer broke the protocol: say why in a close frame and drop the connection. */
  #fail(code: number, reason: string) {
    if (this.readyState === 3) return;
    if (!this.#listener) this.#fire("error", new ErrorEvent("error", { message: reason }));
    this.readyState = 2;
    // Marked as heard: the close frame goes out, then the connection is dropped at once.
    this.#closeReceived ??= { code: CloseCode.Abnormal, reason };
    if (this.#closeSent) this.#io?.close();
    else this.#sendClose(code, encoder.encode(reason).subarray(0, 123));
  }

  #ended() {
    if (this.readyState === 3) return;
    clearTimeout(this.#closeTimer);
    const clean = this.#closeSent && this.#closeReceived !== undefined;
    this.readyState = 3;
    if (this.#listener) return this.#tell(this.#listener, "close");
    const { code, reason } = this.#closeReceived ?? { code: CloseCode.Abnormal, reason: "" };
    this.#fire("close", new CloseEvent("close", { code, reason, wasClean: clean }));
  }

  /** Tells the listener; what it throws is reported, as a handler's is, and the socket goes on. */
  #tell(listener: SocketListener, type: "open" | "message" | "close", data?: string | Uint8Array) {
    try {
      if (type === "message") listener.message(data!);
      else if (type === "open") listener.opened(this);
      else listener.closed();
    } catch (e) {
      reportError(e);
    }
  }

  #fire(type: "open" | "message" | "close" | "error", event: Event) {
    const handler = this[`on${type}`] as ((event: Event) => void) | null;
    try {
      handler?.call(this, event);
    } catch (e) {
      reportError(e);
    }
    if (this.#listened) this.dispatchEvent(event);
  }
}

/** What `upgradeWebSocket` gives: the socket, and the 101 response the handler must return. */
export interface WebSocketUpgrade {
  socket: ServerWebSocket;
  response: Response;
}

const hasToken = (value: string | null, token: string) =>
  (value ?? "").toLowerCase().split(",").some((t) => t.trim() === token);

/**
 * Upgrades a request of an HTTP door (transport/http-server.ts) to a WebSocket, as
 * Deno.upgradeWebSocket does for Deno.serve: return `response` from the handler, and the socket
 * opens once it is sent; `protocol` is the subprotocol chosen, if any. Throws a TypeError for a request that is not a valid upgrade.
 */
export function upgradeWebSocket(
  request: HttpRequest,
  options: { protocol?: string; listener?: SocketListener } = {},
): WebSocketUpgrade {
  const offer = upgradeOffers.get(request);
  if (!offer) throw new TypeError("not an upgrade request of an HTTP door");
  const headers = request.headers;
  if (request.method !== "GET") throw new TypeError("a WebSocket upgrade must be a GET");
  if (!hasToken(headers.get("upgrade"), "websocket")) {
    throw new TypeError("missing Upgrade: websocket");
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    throw new TypeError("missing Connection: upgrade");
  }
  if (headers.get("sec-websocket-version") !== "13") {
    throw new TypeError("Sec-WebSocket-Version must be 13");
  }
  const key = headers.get("sec-websocket-key") ?? "";
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) throw new TypeError("invalid Sec-WebSocket-Key");
  upgradeOffers.delete(request);
  const accept = createHash("sha1").update(key + GUID).digest("base64");
  const headers101: Record<string, string> = {
    upgrade: "websocket",
    "sec-websocket-accept": accept,
  };
  if (options.protocol) headers101["sec-websocket-protocol"] = options.protocol;
  const response = new Response(null, { status: 101, headers: headers101 });
  const socket = new ServerWebSocket(
    request.url,
    offer.maxMessageBytes,
    options.protocol ?? "",
    options.listener,
  );
  offer.offer({ response, adopt: (io) => socket.adopt(io) });
  return { socket, response };
}
