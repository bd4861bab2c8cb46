import type { StartFrom } from "../../../client/shared/messages.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import type { Grant, Principal } from "../../auth/grants.ts";
import { allows } from "../../auth/grants.ts";
import type { Subscriber } from "../../core/broker.ts";
import type { BusMessage } from "../../core/message.ts";
import { authorizeSubscribe } from "../../access/subscribe.ts";
import { LagPolicy } from "../../access/lag.ts";
import { drained } from "../../transport/websocket.ts";
import { type ServerWebSocket, upgradeWebSocket } from "../../transport/websocket-server.ts";
import { channelOf, grantsOf, holds, mayRead, principalOf, topicList, topicOf } from "./access.ts";
import { type Caller, callerOf, type PulsarContext } from "./context.ts";
import { Fields, HttpError } from "./http.ts";
import { messageIdOf, pushFrame, seqOfId } from "./message.ts";
import type { PulsarLiveConnection } from "./live.ts";
import type { RequestInfo } from "./router.ts";
import { subscribeTopic } from "./start.ts";
import type { HttpRequest } from "../../transport/http-request.ts";

/** WebSocket close codes: policy violation (auth, permission), going away (shutdown). */
const POLICY = 1008;
const GOING_AWAY = 1001;
const TRY_AGAIN_LATER = 1013;
/** What the original closes an idle socket with. */
const IDLE = 1011;

/**
 * The token of a WebSocket handshake: `?token=` (0.1, the README) or the subprotocols
 * `bearer, bearer.<jwt>` (0.2; the server answers `bearer`, never echoing the token).
 */
function handshakeToken(request: HttpRequest, url: URL): { token?: string; protocol?: string } {
  const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",").map((s) =>
    s.trim()
  );
  const carrier = offered.find((p) => p.startsWith("bearer."));
  if (carrier && offered.includes("bearer")) {
    return { token: carrier.slice("bearer.".length), protocol: "bearer" };
  }
  return { token: url.searchParams.get("token") ?? undefined };
}

/** `GET /ws`: authenticates the handshake, then runs one session (see PulsarSocket). */
export async function acceptPulsarSocket(
  ctx: PulsarContext,
  request: HttpRequest,
  info: RequestInfo,
): Promise<Response> {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw new HttpError(400, "/ws expects a WebSocket upgrade");
  }
  const url = new URL(request.url);
  const { token, protocol } = handshakeToken(request, url);
  let caller: Caller | undefined;
  let refusal =
    "Missing token: connect to /ws?token=<jwt> or offer the subprotocols bearer, bearer.<jwt>";
  if (token) {
    try {
      caller = await callerOf(ctx, token);
      if (!holds(caller.user, "read")) {
        refusal = "Permission denied: read permission required";
        caller = undefined;
      } else if (ctx.live.count(caller.user.user_id) >= ctx.settings.pulsarMaxWebSocketsPerUser) {
        refusal = "Too many concurrent connections";
        caller = undefined;
      }
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      refusal = e.status === 403 ? "User not found or inactive" : "Invalid or expired token";
    }
  }
  const { socket, response } = upgradeWebSocket(request, protocol ? { protocol } : {});
  const release = info.keep();
  if (!caller) {
    // Accepted, then closed: a browser learns the reason only from a close frame.
    socket.onopen = () => socket.close(POLICY, refusal);
    socket.onclose = release;
    return response;
  }
  new PulsarSocket(ctx, caller, socket, `ws:${info.remote}`, release);
  return response;
}

type ClientFrame = Record<string, unknown>;

/**
 * One WebSocket: a `subscribe` (topics, optional `client_id` and `offset`) answered
 * `subscribed`, then pushed messages; `ping` → `pong`, `ack`, `unsubscribe`. Its subscriptions
 * follow the store: when a grant goes, the subscriptions it covered end with an error frame.
 * A client that falls behind by `--outbound-bytes` is told so and closed (1013): it reconnects
 * with `offset` set to the last message_id it got, and the log replays the rest.
 */
class PulsarSocket implements PulsarLiveConnection {
  readonly userId: string;
  readonly principal: Principal;
  readonly remote: string;
  readonly #ctx: PulsarContext;
  readonly #socket: ServerWebSocket;
  readonly #sessionId = `sess_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  readonly #topics = new Map<string, Subscriber>();
  readonly #lag: LagPolicy;
  readonly #holder: string;
  /** The token's id: a logout deny-lists it, and the socket closes. */
  readonly #jti: string;
  /** Delivered and not yet acked: message_id → topic (for acks that move `client_id`'s position). */
  readonly #unacked = new Map<string, string>();
  #clientId?: string;
  #closed = false;
  /** Until the first subscribe: a socket that never subscribes does not hold its slot forever. */
  #subscribeTimer?: ReturnType<typeof setTimeout>;

  constructor(
    ctx: PulsarContext,
    caller: Caller,
    socket: ServerWebSocket,
    remote: string,
    release: () => void,
  ) {
    this.#ctx = ctx;
    this.remote = remote;
    this.#socket = socket;
    this.userId = caller.user.user_id;
    this.#holder = `pulsar-${this.userId}`;
    this.#jti = caller.claims.jti;
    this.principal = principalOf(ctx.store, caller.user, [], [], caller.claims.exp);
    const outbound = ctx.settings.outboundBytes;
    this.#lag = new LagPolicy(
      {
        push: (m) => {
          if (socket.bufferedAmount > outbound) return false;
          this.#sendMessage(m);
          return true;
        },
        drained: () => drained(socket, outbound / 2),
      },
      ctx.services.replies.holder(this.#holder),
      {
        onLag: () =>
          this.#fail(
            "SLOW_CONSUMER",
            "this connection fell too far behind and messages were dropped; reconnect with " +
              "offset set to the last message_id received to get the rest",
            TRY_AGAIN_LATER,
          ),
        onCaughtUp: () => {},
      },
    );
    socket.onopen = () => {
      ctx.live.add(this);
      this.#subscribeTimer = setTimeout(
        () =>
          this.#fail(
            "SUBSCRIBE_TIMEOUT",
            'no subscribe within --hello-timeout; send {"type":"subscribe","topics":[…]} first',
            IDLE,
          ),
        ctx.settings.helloTimeoutMs,
      );
    };
    socket.onmessage = (e) => this.#receive(e.data);
    socket.onclose = () => {
      this.#closed = true;
      clearTimeout(this.#subscribeTimer);
      for (const [t, sub] of this.#topics) ctx.services.broker.unsubscribe(sub, channelOf(t));
      this.#topics.clear();
      ctx.live.delete(this);
      release();
    };
    socket.onerror = () => {};
  }

  get laggingSince(): number {
    return this.#lag.laggingSince;
  }

  #send(frame: unknown) {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(frame));
  }

  #sendMessage(m: BusMessage) {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    this.#socket.send(pushFrame(m));
    if (this.#clientId) {
      this.#unacked.set(messageIdOf(m), topicOf(m.channel));
      if (this.#unacked.size > 10_000) this.#unacked.delete(this.#unacked.keys().next().value!);
    }
  }

  #error(code: string, message: string, details?: Record<string, unknown>) {
    this.#send({ type: "error", code, message, ...(details ? { details } : {}) });
  }

  #fail(code: string, message: string, closeCode = POLICY) {
    this.#error(code, message);
    if (this.#socket.readyState <= WebSocket.OPEN) this.#socket.close(closeCode, code);
  }

  #receive(data: unknown) {
    let frame: ClientFrame;
    try {
      frame = JSON.parse(
        typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer),
      );
      if (frame === null || typeof frame !== "object" || Array.isArray(frame)) throw new Error();
    } catch {
      return this.#error("INVALID_JSON", 'each message must be a JSON object with a "type"');
    }
    try {
      switch (frame.type) {
        case "subscribe":
          return void this.#subscribe(frame).catch((e) => this.#processingError(e));
        case "unsubscribe":
          return this.#unsubscribe(frame);
        case "ack":
          return this.#ack(frame);
        case "ping":
          return this.#send({ type: "pong", timestamp: new Date().toISOString() });
        default:
          return this.#error("UNKNOWN_MESSAGE_TYPE", `Unknown message type: ${frame.type}`);
      }
    } catch (e) {
      this.#processingError(e);
    }
  }

  #processingError(e: unknown) {
    if (e instanceof HttpError) {
      return this.#error("VALIDATION_ERROR", "invalid message", {
        errors: (e.body as { detail: unknown }).detail,
      });
    }
    this.#ctx.services.log("warn", "pulsar websocket message failed", { error: String(e) });
    this.#error("PROCESSING_ERROR", "processing error");
  }

  async #subscribe(frame: ClientFrame) {
    const f = new Fields(frame);
    const topics = topicList(
      f,
      "topics",
      f.list("topics", { required: true, min: 1, max: 50 }) ?? [],
    );
    const clientId = f.str("client_id", { min: 1, max: 255 });
    const offset = f.str("offset");
    f.done();
    const user = this.#ctx.store.user(this.userId);
    if (!user || !topics.every((t) => mayRead(this.#ctx.store, user, t))) {
      return this.#fail("SUBSCRIPTION_ERROR", "Access denied to one or more requested topics");
    }
    clearTimeout(this.#subscribeTimer);
    if (clientId) this.#clientId = clientId;
    const fresh = topics.filter((t) => !this.#topics.has(t));
    const starts = fresh.map((t) => this.#startOf(t, offset));
    this.principal.grants = grantsOf(this.#ctx.store, user, [...this.#topics.keys(), ...fresh]);
    for (const t of fresh) authorizeSubscribe(this.principal, channelOf(t));
    this.#send({
      type: "subscribed",
      topics: [...new Set([...this.#topics.keys(), ...topics])],
      session_id: this.#sessionId,
      timestamp: new Date().toISOString(),
    });
    for (const [i, t] of fresh.entries()) {
      const sub: Subscriber = { deliver: (m) => this.#lag.deliver(m) };
      this.#topics.set(t, sub);
      await subscribeTopic(this.#ctx, t, sub, starts[i], {
        send: (m) => this.#sendMessage(m),
        ready: () =>
          this.#socket.bufferedAmount > this.#ctx.settings.outboundBytes / 2
            ? drained(this.#socket, this.#ctx.settings.outboundBytes / 4)
            : undefined,
        gone: () => this.#closed || this.#topics.get(t) !== sub,
      }, this.#holder);
      if (this.#closed || this.#topics.get(t) !== sub) {
        this.#ctx.services.broker.unsubscribe(sub, channelOf(t));
      }
    }
  }

  /**
   * Where a topic's subscription starts: `offset` = a message_id (after it), `earliest` (the
   * topic's first message) or `last` (new messages); without one, after the last message this
   * `client_id` acknowledged, if it did.
   */
  #startOf(topic: string, offset: string | undefined): StartFrom {
    if (offset === "earliest") return { seq: 0 };
    const seq = offset && offset !== "last" ? seqOfId(offset) : undefined;
    if (seq !== undefined) return { seq: seq + 1 };
    if (offset && offset !== "last") {
      throw new HttpError(422, [{
        type: "value_error",
        loc: ["offset"],
        msg: "offset is 'last', 'earliest' or a message_id such as 1700000000000-42",
        input: offset,
      }]);
    }
    const acked = !offset && this.#clientId ? this.#ctx.acks.get(this.#ackKey(topic)) : undefined;
    return acked === undefined ? "new" : { seq: acked + 1 };
  }

  #ackKey(topic: string) {
    return `${this.userId}\n${this.#clientId}\n${topic}`;
  }

  #unsubscribe(frame: ClientFrame) {
    const f = new Fields(frame);
    const topics = topicList(f, "topics", f.list("topics", { required: true, min: 1 }) ?? []);
    f.done();
    for (const t of topics) this.#end(t);
  }

  #ack(frame: ClientFrame) {
    const f = new Fields(frame);
    const id = f.str("message_id", { required: true });
    f.done();
    const topic = this.#unacked.get(id!);
    if (topic === undefined) return;
    this.#unacked.delete(id!);
    const key = this.#ackKey(topic);
    const seq = seqOfId(id!)!;
    if ((this.#ctx.acks.get(key) ?? 0) < seq) this.#ctx.acks.set(key, seq);
    if (this.#ctx.acks.size > 100_000) this.#ctx.acks.delete(this.#ctx.acks.keys().next().value!);
  }

  #end(topic: string) {
    const sub = this.#topics.get(topic);
    if (!sub) return;
    this.#topics.delete(topic);
    this.#ctx.services.broker.unsubscribe(sub, channelOf(topic));
  }

  reauthorize(): void {
    const user = this.#ctx.store.user(this.userId);
    if (!user || !user.is_active) return this.#fail("UNAUTHORIZED", "User not found or inactive");
    if (this.#ctx.store.isDenied(this.#jti)) {
      return this.#fail("UNAUTHORIZED", "this token was logged out; log in again");
    }
    if (!holds(user, "read")) {
      return this.#fail("FORBIDDEN", "Permission denied: read permission required");
    }
    this.regrant(grantsOf(this.#ctx.store, user, this.#topics.keys()));
  }

  regrant(grants: Grant[]): void {
    this.principal.grants = grants;
    const ended = [...this.#topics.keys()].filter((t) =>
      !allows(this.principal, "read", channelOf(t))
    );
    for (const t of ended) this.#end(t);
    if (ended.length) {
      this.#error(
        "ACCESS_REVOKED",
        "access to these topics was revoked; their subscriptions ended",
        {
          topics: ended,
        },
      );
    }
  }

  close(error?: CatbusError): void {
    if (!error) return void this.#socket.close(GOING_AWAY);
    const code = error.code === ErrorCode.Shutdown
      ? GOING_AWAY
      : error.code === ErrorCode.SlowConsumer
      ? TRY_AGAIN_LATER
      : POLICY;
    this.#fail(error.code.toUpperCase(), error.clientMessage, code);
  }
}
