import { CatbusError, ErrorCode } from "../shared/errors.ts";
import { parseChannel, parsePattern } from "../shared/subject.ts";
import { isReplySubject, REPLY_TO_HEADER } from "../shared/reply-subjects.ts";
import {
  encodeFrame,
  Flag,
  type Frame,
  FrameDecoder,
  FrameType,
  parseMeta,
} from "../shared/frame.ts";
import {
  type ErrorMeta,
  type HistoryResultMeta,
  type NoticeMeta,
  type PresenceMember,
  type PresenceResultMeta,
  PROTOCOL_VERSION,
  type PublishedMeta,
  type SubscribedMeta,
  type WelcomeMeta,
} from "../shared/messages.ts";
import { backoffDelay } from "./backoff.ts";
import { ReplyInbox } from "./reply-inbox.ts";
import {
  type ConsumeHandler,
  type ConsumeOptions,
  type ConsumerInfo,
  type ConsumerSettings,
  type Consumption,
  Consumptions,
} from "./consumers.ts";
import {
  LocalSubscription,
  type MessageHandler,
  type MessageMeta,
  type RecoveryInfo,
  type SubscribeOptions,
  SubscriptionRegistry,
} from "./subscriptions.ts";
import type { Transport, TransportConnection } from "./transport.ts";
import {
  type MessageStream,
  messageStream,
  type ReceivedMessage,
  type StreamOptions,
} from "./message-stream.ts";
import { websocketTransport } from "./websocket-transport.ts";
import { type HistoryOptions, type HistoryPage, historyPage } from "./history.ts";
import { abortable } from "./abortable.ts";
import { NodeList } from "./node-list.ts";
import { startHeartbeat } from "./heartbeat.ts";
import { OfflineQueue } from "./offline-queue.ts";

export type ConnectionState =
  | "disconnected"
  | "connecting"
  | "authenticating"
  | "connected"
  | "reconnecting";

export interface ClientOptions {
  /**
   * `ws(s)://host:4433`, `http(s)://host:4433`, or `tcp(s)://host:4434` with a TCP transport;
   * several URLs (nodes of one cluster) are tried in turn. Once connected, the node list the
   * server advertises (`nodes` in its welcome) replaces them, in random order on reconnect.
   */
  url: string | string[];
  /** A `sub-` or `role-` token, or the admin key. */
  token?: string;
  /**
   * Fetches a fresh token (e.g. from your backend). Called for every reconnect (and the first
   * connect when `token` is not given), and when the server says the token is `expiring`: the
   * new token is handed over the open connection, subscriptions stay. With it, a refused or
   * expired token is retried on the next reconnect instead of ending the client.
   */
  getToken?: () => string | Promise<string>;
  /** How bytes travel; default: WebSocket. */
  transport?: Transport;
  /**
   * Reconnect after an unexpected drop, and keep trying the first `connect()`, forever (default
   * true). Without `getToken`, an `unauthorized` or `revoked` answer stops reconnecting: the
   * same token cannot do better.
   */
  autoReconnect?: boolean;
  /** First reconnect delay in ms (default 1000), doubling up to `maxReconnectDelay` (30000). */
  reconnectDelay?: number;
  maxReconnectDelay?: number;
  /** ± fraction of each delay (default 0.3). */
  reconnectJitter?: number;
  /**
   * Ping when the server was silent this long (ms); silent for twice as long, the connection
   * counts as dead and the client reconnects. Default: the server's heartbeat.
   */
  pingInterval?: number;
  /** Queue publishes made while disconnected (default true), at most `maxQueueSize` (100). */
  offlineQueue?: boolean;
  maxQueueSize?: number;
  /** Give up on a connection attempt after this many ms (default 10000), then retry. */
  connectTimeout?: number;
  /** Reject a request the server has not answered within this many ms (default 10000). */
  requestTimeout?: number;
  /** Shown in server logs. */
  name?: string;
}

export interface PublishOptions {
  headers?: Record<string, string>;
  /**
   * Deduplication key: publishing the same key again within the server's window (2 min by
   * default) stores nothing and resolves with the first message's position (`duplicate: true`).
   * Use it to retry safely after a lost connection.
   */
  key?: string;
  /** Time to live in ms: the message is not delivered or replayed after that. */
  ttl?: number;
  /**
   * Resolve only after this many durable-consumer acks of the message (server-side); rejects
   * with `timeout` after `confirmTimeout` ms (default 5000) — the message stays stored.
   */
  confirm?: number;
  confirmTimeout?: number;
}

/** Where a published message was stored: its namespace position, id and time. */
export type PublishResult = PublishedMeta;

export interface RequestOptions extends PublishOptions {
  /** Reject with `timeout` after this many ms (default 5000). */
  timeout?: number;
  /** Rejects the request with the signal's reason when aborted. */
  signal?: AbortSignal;
}

export interface Subscription {
  readonly pattern: string;
  unsubscribe(): Promise<void>;
}

interface Pending {
  /** Takes the message frames answering this request (a history page). */
  collect?(frame: Frame): void;
  resolve(meta: Record<string, unknown>): void;
  reject(error: CatbusError): void;
  /** performance.now() after which the request fails with `timeout`. */
  deadline: number;
}

const CLIENT_NAME = "@catbus/client/0.1.0";
const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** Codes after which reconnecting with the same credentials cannot help. */
const PERMANENT = new Set<string>([ErrorCode.Unauthorized, ErrorCode.Revoked]);

/** A message frame's meta and payload (JSON parsed, bytes copied out of the read buffer). */
function decodeMessage(frame: Frame) {
  const meta = parseMeta<MessageMeta & { consumer?: string; attempt?: number }>(frame);
  const payload: unknown = frame.flags & Flag.Binary
    ? frame.data.slice()
    : JSON.parse(decoder.decode(frame.data));
  return { meta, payload };
}

const disconnected = () =>
  new CatbusError(
    ErrorCode.Disconnected,
    "the connection to the server was lost",
  );

/**
 * A Catbus connection: publish, subscribe with wildcards, and resume after reconnects.
 *
 * @example
 * ```ts
 * const client = new CatbusClient({ url: "ws://localhost:4433", token: "sub-…" });
 * await client.connect();
 * await client.subscribe("chat.>", (channel, payload, meta) => console.log(channel, payload, meta.seq));
 * await client.publish("chat.lobby", { text: "hi" });
 * ```
 */
export class CatbusClient {
  readonly #options:
    & Required<
      Omit<ClientOptions, "token" | "getToken" | "pingInterval" | "name">
    >
    & ClientOptions;
  /** The nodes to try: the configured URLs, then the node list of the server's welcome. */
  readonly #nodes: NodeList;
  readonly #subs = new SubscriptionRegistry();
  readonly #pending = new Map<number, Pending>();
  readonly #stateHandlers = new Set<(s: ConnectionState) => void>();
  readonly #errorHandlers = new Set<(e: CatbusError) => void>();
  readonly #recoveryHandlers = new Set<(info: RecoveryInfo) => void>();
  /** Where replies to this client's requests arrive. */
  readonly #replies = new ReplyInbox(
    (pattern, handler) => this.subscribe(pattern, handler),
    () => this.#id,
  );
  /** Consumers this client consumes, re-bound after every reconnect. */
  readonly #consumers = new Consumptions(
    (type, meta) => this.#request(type, meta),
    () => this.#state === "connected",
  );
  /** Publishes made while disconnected. */
  readonly #offline: OfflineQueue<PublishOptions>;
  #state: ConnectionState = "disconnected";
  #conn?: TransportConnection;
  #decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 * 1024 });
  #nextId = 1;
  #id?: string;
  #welcome?: WelcomeMeta;
  /** Stops the connection's dead-peer detection. */
  #stopHeartbeat?: () => void;
  /** One timer sweeps expired requests: a timer per request costs more than the request. */
  #timeoutSweep?: ReturnType<typeof setInterval>;
  /** performance.now() when the server last sent anything. */
  #lastHeard = 0;
  /** Whether a connection was ever made: later ones take a fresh token from getToken. */
  #connectedBefore = false;
  #reconnectTimer?: ReturnType<typeof setTimeout>;
  /** Ends the pause between first-connect attempts early (disconnect). */
  #wake?: () => void;
  #attempt = 0;
  /** The connect in progress, if any. */
  #connecting?: Promise<void>;
  /** Bumped by disconnect(), so a connect it interrupted drops its connection. */
  #generation = 0;
  /** Set by disconnect() or a permanent error: no more reconnects. */
  #stopped = true;

  constructor(options: ClientOptions) {
    this.#options = {
      transport: websocketTransport(),
      autoReconnect: true,
      reconnectDelay: 1000,
      maxReconnectDelay: 30_000,
      reconnectJitter: 0.3,
      offlineQueue: true,
      maxQueueSize: 100,
      requestTimeout: 10_000,
      connectTimeout: 10_000,
      ...options,
    };
    this.#nodes = new NodeList(options.url);
    this.#offline = new OfflineQueue(this.#options.maxQueueSize);
  }

  /** The client id the server assigned (from the token), once connected. */
  get id(): string | undefined {
    return this.#id;
  }

  /** The transport carrying the connection ("webtransport", "websocket", "sse", "tcp"). */
  get transportKind(): string | undefined {
    return this.#conn?.kind;
  }

  get connectionState(): ConnectionState {
    return this.#state;
  }

  /** Calls `handler` on every state change; returns a function that stops it. */
  onStateChange(handler: (state: ConnectionState) => void): () => void {
    this.#stateHandlers.add(handler);
    return () => this.#stateHandlers.delete(handler);
  }

  /** Connection-level errors (e.g. `slow_consumer`, `revoked`, `unauthorized` on reconnect). */
  onError(handler: (error: CatbusError) => void): () => void {
    this.#errorHandlers.add(handler);
    return () => this.#errorHandlers.delete(handler);
  }

  /** Every resume outcome, for all subscriptions. */
  onRecovery(handler: (info: RecoveryInfo) => void): () => void {
    this.#recoveryHandlers.add(handler);
    return () => this.#recoveryHandlers.delete(handler);
  }

  /**
   * Connects and authenticates, trying again (the same backoff as reconnects, every URL in
   * turn) until the server answers: it resolves once connected. It rejects on a refusal that
   * retrying cannot change (`unauthorized` without `getToken`), when `signal` aborts (the client
   * is then disconnected), or, with `retry: false` or `autoReconnect: false`, at the first
   * failure (the transport's error, or a `CatbusError`).
   *
   * @example
   * ```ts
   * // Wait at most 5 s for the server, instead of forever:
   * await client.connect({ signal: AbortSignal.timeout(5000) });
   * ```
   */
  connect(options: { signal?: AbortSignal; retry?: boolean } = {}): Promise<void> {
    const { signal, retry = this.#options.autoReconnect } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!signal) return this.#connect(retry);
    const onAbort = () => this.disconnect();
    signal.addEventListener("abort", onAbort, { once: true });
    return this.#connect(retry).then(
      () => signal.removeEventListener("abort", onAbort),
      (e) => {
        signal.removeEventListener("abort", onAbort);
        throw signal.aborted ? signal.reason : e;
      },
    );
  }

  #connect(retry: boolean): Promise<void> {
    if (this.#state === "connected") return Promise.resolve();
    // A second call while connecting joins the first instead of opening another connection.
    return this.#connecting ??= (async () => {
      this.#stopped = false;
      this.#setState("connecting");
      const generation = this.#generation;
      try {
        for (let attempt = 0;; attempt++) {
          this.#setState("connecting");
          try {
            return await this.#open();
          } catch (e) {
            const permanent = e instanceof CatbusError && this.#isPermanent(e.code);
            if (!retry || permanent || generation !== this.#generation) throw e;
            this.#reportAttempt(e);
          }
          await this.#pause(this.#backoff(attempt));
          if (generation !== this.#generation) throw disconnected();
        }
      } catch (e) {
        this.#stopped = true;
        this.#setState("disconnected");
        throw e;
      } finally {
        this.#connecting = undefined;
      }
    })();
  }

  /** Closes the connection for good: no reconnect; queued and pending work is rejected. */
  disconnect(): Promise<void> {
    this.#stopped = true;
    this.#generation++;
    clearTimeout(this.#reconnectTimer);
    this.#wake?.();
    this.#teardown();
    this.#offline.rejectAll(disconnected());
    this.#setState("disconnected");
    return Promise.resolve();
  }

  /**
   * Subscribes to a pattern (`*` one token, `>` the rest). With a handler it resolves once the
   * server confirmed (while offline at once: the subscription starts on (re)connect); without
   * one it returns a stream for `for await`. `signal` ends the subscription.
   *
   * @example
   * ```ts
   * for await (const { channel, payload } of client.subscribe<Order>("orders.>")) {
   *   console.log(channel, payload.total);
   * }
   * ```
   */
  subscribe<T = unknown>(
    pattern: string,
    handler: MessageHandler<T>,
    options?: SubscribeOptions,
  ): Promise<Subscription>;
  subscribe<T = unknown>(pattern: string, options?: StreamOptions): MessageStream<T>;
  subscribe<T = unknown>(
    pattern: string,
    handlerOrOptions?: MessageHandler<T> | StreamOptions,
    options: SubscribeOptions = {},
  ): Promise<Subscription> | MessageStream<T> {
    if (typeof handlerOrOptions !== "function") {
      parsePattern(pattern);
      return messageStream<T>(
        (handler, streamOptions) => this.#subscribe(pattern, handler, streamOptions),
        handlerOrOptions ?? {},
      );
    }
    return this.#subscribe(pattern, handlerOrOptions as MessageHandler, options);
  }

  async #subscribe(
    pattern: string,
    handler: MessageHandler,
    options: SubscribeOptions,
  ): Promise<Subscription> {
    parsePattern(pattern);
    options.signal?.throwIfAborted();
    if (options.presence || options.onPresence) parseChannel(pattern);
    const sub = new LocalSubscription(pattern, handler, options);
    // Registered before the request: replayed messages arrive before the answer.
    this.#subs.add(sub);
    const subscription: Subscription = {
      pattern,
      unsubscribe: async () => {
        if (this.#subs.remove(sub) && this.#state === "connected") {
          await this.#request(FrameType.Unsubscribe, { pattern }).catch(
            () => {},
          );
        }
      },
    };
    options.signal?.addEventListener("abort", () => subscription.unsubscribe(), { once: true });
    if (this.#state !== "connected") return subscription;
    try {
      const meta = {
        pattern,
        ...(options.from ? { from: options.from } : {}),
        ...this.#subs.presenceOf(pattern),
      };
      const result = await this.#request(
        FrameType.Subscribe,
        meta,
      ) as unknown as SubscribedMeta;
      sub.seed(result.namespaces);
    } catch (e) {
      this.#subs.remove(sub);
      throw e;
    }
    return subscription;
  }

  /**
   * Publishes a JSON value, or raw bytes when `payload` is a Uint8Array. Resolves with the
   * stored position once the server acknowledged it. While disconnected the publish waits in
   * the offline queue (or rejects with `offline_queue_full` / `disconnected`).
   */
  publish(
    channel: string,
    payload: unknown,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    try {
      parseChannel(channel);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.#state === "connected") {
      return this.#sendPublish(channel, payload, options);
    }
    if (!this.#options.offlineQueue || this.#stopped) {
      return Promise.reject(disconnected());
    }
    return this.#offline.add(channel, payload, options);
  }

  /**
   * Publishes without waiting for an acknowledgement (fire and forget): the fastest way to
   * stream events. Nothing is queued while disconnected (throws `disconnected`); a refusal
   * arrives later through `onError` with the server's code.
   */
  send(channel: string, payload: unknown, options: PublishOptions = {}): void {
    parseChannel(channel);
    if (this.#state !== "connected" || !this.#conn) throw disconnected();
    const binary = payload instanceof Uint8Array;
    const data = binary ? payload : encoder.encode(JSON.stringify(payload ?? null));
    this.#conn.send(
      encodeFrame(
        FrameType.Publish,
        0,
        { channel, ...options },
        data,
        binary ? Flag.Binary : 0,
      ),
    );
  }

  /**
   * Request/reply: publishes with a `reply_to` header naming a private inbox and resolves with
   * the first reply. Rejects at once with `no_responders` when nobody subscribes to the channel,
   * or with `timeout` after `timeout` ms (default 5000).
   *
   * @example
   * ```ts
   * await service.subscribe("svc.time", (_c, _p, meta) => service.respond(meta, Date.now()));
   * const now = await client.request("svc.time", null);
   * ```
   */
  async request<Req = unknown, Res = unknown>(
    channel: string,
    payload: Req,
    options: RequestOptions = {},
  ): Promise<Res> {
    const { timeout = 5000, signal, ...publishOptions } = options;
    signal?.throwIfAborted();
    const awaited = await this.#replies.expect(channel, timeout, signal);
    try {
      await this.publish(channel, payload, {
        ...publishOptions,
        headers: {
          ...publishOptions.headers,
          [REPLY_TO_HEADER]: awaited.replyTo,
        },
        request: true,
        timeout,
      } as PublishOptions);
      return await awaited.reply as Res;
    } finally {
      awaited.done();
    }
  }

  /**
   * Answers a request received by a subscription handler: publishes to its `reply_to` header,
   * which must be a reply inbox (`_inbox.…`, or a Bus `_bus_.…`); anything else is refused with
   * `bad_request`, so a caller cannot make the responder publish to a channel of its choosing.
   * The server accepts one reply per delivered request, within the request's timeout and
   * `--reply-window` (30 s).
   */
  respond(meta: MessageMeta, payload: unknown): Promise<PublishResult> {
    const replyTo = meta.headers?.[REPLY_TO_HEADER];
    if (!replyTo) {
      return Promise.reject(
        new CatbusError(
          ErrorCode.BadRequest,
          "this message is not a request: no reply_to header",
        ),
      );
    }
    if (!isReplySubject(replyTo)) {
      return Promise.reject(
        new CatbusError(
          ErrorCode.BadRequest,
          `reply_to "${replyTo}" is not a reply inbox (_inbox.… or _bus_.…); not answered`,
        ),
      );
    }
    return this.publish(replyTo, payload);
  }

  /**
   * The newest messages of a channel (or of a pattern within one namespace), oldest first,
   * from the server's log; granted as subscribing is. Works for memory-only namespaces too,
   * from what their in-memory history still holds.
   *
   * @example
   * ```ts
   * const page = await client.history<ChatLine>("chat.lobby", { limit: 50 });
   * for (const { payload, meta } of page.messages) render(payload, meta.time);
   * const older = page.next && await client.history("chat.lobby", { limit: 50, before: page.next });
   * ```
   */
  async history<T = unknown>(
    channel: string,
    options: HistoryOptions = {},
  ): Promise<HistoryPage<T>> {
    const { signal, limit, before } = options;
    parsePattern(channel);
    const messages: ReceivedMessage<T>[] = [];
    const collect = (frame: Frame) => {
      const { meta, payload } = decodeMessage(frame);
      messages.push({ channel: meta.channel, payload: payload as T, meta });
    };
    const meta = { channel, limit, before };
    const result = await abortable(
      this.#request(FrameType.History, meta, undefined, 0, collect),
      signal,
    );
    return historyPage(messages, result as unknown as HistoryResultMeta);
  }

  /**
   * Who is present on a channel now: one member per client id, with its token's `info`. A
   * client is present while it is subscribed with `{ presence: true }`; subscribe with
   * `onPresence` to hear joins and leaves.
   *
   * @example
   * ```ts
   * await client.subscribe("room.42", onMessage, {
   *   presence: true,
   *   onPresence: ({ event, member }) => console.log(member.clientId, event),
   * });
   * const members = await client.presence("room.42");
   * ```
   */
  async presence(
    channel: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<PresenceMember[]> {
    parseChannel(channel);
    const result = await abortable(this.#request(FrameType.Presence, { channel }), options.signal);
    return (result as unknown as PresenceResultMeta).members;
  }

  /** Creates a durable consumer, or returns the existing one when its settings are the same. */
  async createConsumer(settings: ConsumerSettings): Promise<ConsumerInfo> {
    return await this.#request(
      FrameType.ConsumerCreate,
      settings,
    ) as unknown as ConsumerInfo;
  }

  async deleteConsumer(name: string): Promise<void> {
    await this.#request(FrameType.ConsumerDelete, { name });
  }

  /** The durable consumers this client may read. */
  async listConsumers(): Promise<ConsumerInfo[]> {
    const { consumers } = await this.#request(FrameType.ConsumerList, {});
    return consumers as ConsumerInfo[];
  }

  /**
   * Receives a durable consumer's messages. Several clients consuming one consumer form a
   * queue group: each message goes to one of them. The handler's message acks itself when the
   * handler returns and naks itself when it throws, unless the handler settled it.
   *
   * @example
   * ```ts
   * await client.createConsumer({ name: "mailer", pattern: "orders.>", ackWait: 10_000 });
   * await client.consume("mailer", async (m) => {
   *   await sendMail(m.payload);            // throws → nak → redelivered (m.attempt + 1)
   * });
   * ```
   */
  async consume(
    name: string,
    handler: ConsumeHandler,
    options: ConsumeOptions & { signal?: AbortSignal } = {},
  ): Promise<Consumption> {
    const { signal, ...consumeOptions } = options;
    signal?.throwIfAborted();
    const consumption = await this.#consumers.consume(name, handler, consumeOptions);
    signal?.addEventListener("abort", () => consumption.stop(), { once: true });
    return consumption;
  }

  /** Round-trip time to the server in ms. */
  async ping(): Promise<number> {
    const start = performance.now();
    await this.#request(FrameType.Ping, undefined);
    return performance.now() - start;
  }

  #sendPublish(channel: string, payload: unknown, options: PublishOptions) {
    const binary = payload instanceof Uint8Array;
    const data = binary ? payload : encoder.encode(JSON.stringify(payload ?? null));
    const meta = { channel, ...options };
    return this.#request(
      FrameType.Publish,
      meta,
      data,
      binary ? Flag.Binary : 0,
    ) as unknown as Promise<
      PublishResult
    >;
  }

  #request(
    type: number,
    meta: unknown,
    data?: Uint8Array,
    flags = 0,
    collect?: (frame: Frame) => void,
  ): Promise<Record<string, unknown>> {
    const conn = this.#conn;
    if (!conn) return Promise.reject(disconnected());
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    return new Promise((resolve, reject) => {
      const deadline = performance.now() + this.#options.requestTimeout;
      this.#pending.set(id, { resolve, reject, deadline, collect });
      conn.send(encodeFrame(type, id, meta, data, flags));
    });
  }

  #sweepTimeouts() {
    const now = performance.now();
    for (const [id, p] of this.#pending) {
      if (p.deadline > now) continue;
      this.#pending.delete(id);
      p.reject(
        new CatbusError(
          ErrorCode.Timeout,
          `no answer from the server within ${this.#options.requestTimeout} ms`,
        ),
      );
    }
  }

  /** Opens a transport connection and completes hello; then restores subscriptions. */
  async #open(): Promise<void> {
    const generation = this.#generation;
    this.#decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 * 1024 });
    const opening = this.#options.transport.connect(this.#nodes.next(), {
      onData: (bytes) => {
        if (this.#conn === conn) this.#onData(bytes);
      },
      onClose: () => {
        if (this.#conn === conn) this.#onLost();
      },
    });
    const conn = await this.#withConnectTimeout(opening);
    if (generation !== this.#generation) {
      // disconnect() was called while the transport was connecting: do not keep what it opened.
      conn.close();
      throw disconnected();
    }
    this.#conn = conn;
    this.#timeoutSweep = setInterval(
      () => this.#sweepTimeouts(),
      Math.max(10, Math.min(1000, this.#options.requestTimeout / 4)),
    );
    this.#setState("authenticating");
    let welcome: WelcomeMeta;
    try {
      welcome = await this.#request(FrameType.Hello, {
        version: PROTOCOL_VERSION,
        token: await this.#helloToken(),
        client: this.#options.name ?? CLIENT_NAME,
      }) as unknown as WelcomeMeta;
    } catch (e) {
      this.#teardown();
      throw e;
    }
    this.#connectedBefore = true;
    this.#welcome = welcome;
    this.#nodes.advertised(welcome.nodes);
    this.#id = welcome.clientId;
    this.#attempt = 0;
    this.#setState("connected");
    this.#startHeartbeat();
    for (const pattern of this.#subs.patterns()) this.#resubscribe(pattern);
    this.#consumers.rebind((e) => this.#emitError(e));
    this.#offline.flush((channel, payload, options) =>
      this.#sendPublish(channel, payload, options)
    );
  }

  /**
   * A frozen server may accept the TCP connection and never answer: an attempt that takes longer
   * than `connectTimeout` fails (and what it opens late is closed), so reconnecting goes on.
   */
  async #withConnectTimeout(
    opening: Promise<TransportConnection>,
  ): Promise<TransportConnection> {
    const ms = this.#options.connectTimeout;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        opening.then((conn) => conn.close(), () => {});
        reject(
          new CatbusError(
            ErrorCode.Timeout,
            `no connection to the server within ${ms} ms`,
          ),
        );
      }, ms);
    });
    try {
      return await Promise.race([opening, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The token for hello: `token` the first time, else a fresh one from `getToken`. */
  async #helloToken(): Promise<string | undefined> {
    const { token, getToken } = this.#options;
    if (!getToken || (token !== undefined && !this.#connectedBefore)) {
      return token;
    }
    try {
      return await getToken();
    } catch (e) {
      throw new CatbusError(ErrorCode.Unauthorized, `getToken() failed: ${e}`, {
        cause: e,
      });
    }
  }

  /** The server said the token expires soon: hand it a new one over this connection. */
  async #refreshToken(): Promise<void> {
    const { getToken } = this.#options;
    const conn = this.#conn;
    if (!getToken || !conn) return;
    try {
      const token = await getToken();
      if (this.#conn !== conn) return; // reconnected meanwhile, with a fresh token anyway
      await this.#request(FrameType.Refresh, { token });
    } catch (e) {
      // A refused token: the server closes the connection; the reconnect asks getToken again.
      this.#emitError(
        e instanceof CatbusError
          ? e
          : new CatbusError(ErrorCode.Unauthorized, `getToken() failed: ${e}`, {
            cause: e,
          }),
      );
    }
  }

  /** Whether reconnecting cannot help after this error. */
  #isPermanent(code: string): boolean {
    return PERMANENT.has(code) && !this.#options.getToken;
  }

  /** (Re)sends a subscription with resume positions and reports the outcome. */
  async #resubscribe(pattern: string): Promise<void> {
    const resume = this.#subs.resumeFor(pattern);
    const subs = this.#subs.of(pattern);
    const from = subs.find((s) => s.options.from)?.options.from;
    try {
      const result = await this.#request(FrameType.Subscribe, {
        pattern,
        ...(Object.keys(resume).length ? { resume } : {}),
        ...(from ? { from } : {}),
        ...this.#subs.presenceOf(pattern),
      }) as unknown as SubscribedMeta;
      const info: RecoveryInfo = {
        pattern,
        recovered: result.recovered,
        namespaces: result.namespaces,
      };
      for (const sub of this.#subs.of(pattern)) {
        sub.seed(result.namespaces);
        sub.options.onRecovery?.(info);
      }
      for (const h of this.#recoveryHandlers) h(info);
    } catch (e) {
      if (!(e instanceof CatbusError) || e.code === ErrorCode.Disconnected) {
        return;
      }
      for (const sub of this.#subs.of(pattern)) {
        this.#subs.remove(sub);
        sub.options.onError?.(e);
      }
    }
  }

  #onData(bytes: Uint8Array) {
    this.#lastHeard = performance.now();
    this.#decoder.push(bytes, (event) => {
      if (event.kind === "frame") this.#onFrame(event.frame);
      else {
        this.#emitError(
          new CatbusError(
            ErrorCode.BadRequest,
            `unreadable data from the server (${event.kind})`,
          ),
        );
        this.#conn?.close();
      }
    });
  }

  #onFrame(frame: Frame) {
    switch (frame.type) {
      case FrameType.Message:
        if (frame.id !== 0) return this.#pending.get(frame.id)?.collect?.(frame);
        return this.#onMessage(frame);
      case FrameType.Ok:
      case FrameType.Welcome:
      case FrameType.Pong:
        return this.#settle(frame.id, (p) => p.resolve(parseMeta(frame)));
      case FrameType.Error: {
        const meta = parseMeta<ErrorMeta>(frame);
        const error = new CatbusError(meta.code, meta.message);
        if (frame.id !== 0) {
          return this.#settle(frame.id, (p) => p.reject(error));
        }
        if (this.#isPermanent(meta.code)) this.#stopped = true;
        return this.#emitError(error);
      }
      case FrameType.Ping:
        return this.#conn?.send(encodeFrame(FrameType.Pong, frame.id));
      case FrameType.Notice:
        return this.#onNotice(parseMeta<NoticeMeta>(frame));
    }
  }

  #onMessage(frame: Frame) {
    const { meta, payload } = decodeMessage(frame);
    const onError = (e: unknown) =>
      this.#emitError(
        new CatbusError(ErrorCode.Internal, `a message handler threw: ${e}`, {
          cause: e,
        }),
      );
    if (meta.consumer === undefined) {
      return this.#subs.dispatch(meta, payload, onError);
    }
    this.#consumers.dispatch(
      meta as typeof meta & { consumer: string },
      payload,
      onError,
    );
  }

  #onNotice(notice: NoticeMeta) {
    if (notice.event === "expiring") {
      this.#refreshToken();
    } else if (notice.event === "join" || notice.event === "leave") {
      this.#subs.presence(notice);
    } else if (notice.event === "gap") {
      // Ask for what was dropped; the answer says whether history still had it.
      for (const pattern of this.#subs.patternsReaching(notice.namespace)) {
        this.#resubscribe(pattern);
      }
    } else if (notice.event === "publish_failed") {
      this.#emitError(
        new CatbusError(
          notice.code,
          `publish to ${notice.channel} failed: ${notice.message}`,
        ),
      );
    } else if (notice.event === "revoked" && notice.consumer !== undefined) {
      this.#consumers.forget(notice.consumer);
      this.#emitError(new CatbusError(ErrorCode.Revoked, notice.message));
    } else if (notice.event === "revoked") {
      const error = new CatbusError(ErrorCode.Revoked, notice.message);
      for (const sub of this.#subs.of(notice.pattern)) {
        this.#subs.remove(sub);
        sub.options.onError?.(error);
      }
    }
  }

  #settle(id: number, fn: (p: Pending) => void) {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    fn(p);
  }

  /** The connection dropped: fail what was in flight, then reconnect unless told not to. */
  #onLost() {
    this.#teardown();
    if (this.#stopped || !this.#options.autoReconnect) {
      this.#stopped = true;
      this.#offline.rejectAll(disconnected());
      this.#setState("disconnected");
      return;
    }
    this.#setState("reconnecting");
    this.#scheduleReconnect();
  }

  #backoff(attempt: number): number {
    return backoffDelay(attempt, {
      initial: this.#options.reconnectDelay,
      max: this.#options.maxReconnectDelay,
      jitter: this.#options.reconnectJitter,
    });
  }

  /** Waits between first-connect attempts; disconnect() ends the wait at once. */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = () => resolve();
      this.#reconnectTimer = setTimeout(resolve, ms);
    }).finally(() => this.#wake = undefined);
  }

  /** Refusals are worth knowing (e.g. getToken's token refused); lost attempts are not. */
  #reportAttempt(e: unknown) {
    if (e instanceof CatbusError && e.code !== ErrorCode.Disconnected) this.#emitError(e);
  }

  #scheduleReconnect() {
    const delay = this.#backoff(this.#attempt++);
    this.#reconnectTimer = setTimeout(async () => {
      if (this.#stopped) return;
      try {
        await this.#open();
      } catch (e) {
        if (e instanceof CatbusError && this.#isPermanent(e.code)) {
          this.#stopped = true;
          this.#emitError(e);
          this.#offline.rejectAll(e);
          this.#setState("disconnected");
          return;
        }
        this.#reportAttempt(e);
        if (!this.#stopped) this.#scheduleReconnect();
      }
    }, delay);
  }

  #teardown() {
    this.#stopHeartbeat?.();
    this.#stopHeartbeat = undefined;
    clearInterval(this.#timeoutSweep);
    this.#timeoutSweep = undefined;
    const conn = this.#conn;
    this.#conn = undefined;
    conn?.close();
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(disconnected());
    }
  }

  /** Dead-peer detection for the connection just made (see heartbeat.ts). */
  #startHeartbeat() {
    const interval = this.#options.pingInterval ?? this.#welcome?.heartbeat ?? 15_000;
    this.#lastHeard = performance.now();
    const conn = this.#conn;
    this.#stopHeartbeat = startHeartbeat(interval, {
      lastHeard: () => this.#lastHeard,
      ping: () => this.#request(FrameType.Ping, undefined).catch(() => {}),
      dead: (silentMs) => this.#conn === conn && this.#dropDead(silentMs),
    });
  }

  /** Gives up on a silent connection without waiting for its transport to notice. */
  #dropDead(silentMs: number) {
    this.#emitError(
      new CatbusError(
        ErrorCode.Timeout,
        `the server did not answer for ${Math.round(silentMs)} ms; reconnecting`,
      ),
    );
    this.#onLost();
  }

  #emitError(error: CatbusError) {
    for (const h of this.#errorHandlers) h(error);
  }

  #setState(state: ConnectionState) {
    if (this.#state === state) return;
    this.#state = state;
    for (const h of this.#stateHandlers) h(state);
  }
}
