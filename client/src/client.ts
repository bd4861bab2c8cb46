import { CatbusError, ErrorCode } from "../shared/errors.ts";
import { parseChannel, parsePattern } from "../shared/subject.ts";
import { REPLY_TO_HEADER } from "../shared/reply-subjects.ts";
import { encodeFrame, type Frame, FrameType, parseMeta } from "../shared/frame.ts";
import {
  type ErrorMeta,
  type HistoryResultMeta,
  type NoticeMeta,
  type PresenceMember,
  type PresenceResultMeta,
  PROTOCOL_VERSION,
  type WelcomeMeta,
} from "../shared/messages.ts";
import { ReplyInbox, replyTarget, type RequestOptions } from "./reply-inbox.ts";
import { type ClientOptions, type ResolvedOptions, withDefaults } from "./client-options.ts";
import { publishFrame, type PublishOptions, type PublishResult } from "./publish.ts";
import { decodeMessage } from "./decode-message.ts";
import {
  type ConsumeHandler,
  type ConsumeOptions,
  type ConsumerInfo,
  type ConsumerSettings,
  type Consumption,
  Consumptions,
} from "./consumers.ts";
import type {
  MessageHandler,
  MessageMeta,
  RecoveryInfo,
  SubscribeOptions,
} from "./subscriptions.ts";
import { Subscriber, type Subscription } from "./subscriber.ts";
import {
  type MessageStream,
  messageStream,
  type ReceivedMessage,
  type StreamOptions,
} from "./message-stream.ts";
import { type HistoryOptions, type HistoryPage, historyPage } from "./history.ts";
import { abortable } from "./abortable.ts";
import { NodeList } from "./node-list.ts";
import { OfflineQueue } from "./offline-queue.ts";
import { PendingRequests } from "./requests.ts";
import { ServerConnection } from "./server-connection.ts";
import { TokenSource } from "./token-source.ts";
import { type ConnectionState, disconnected, Reconnector } from "./reconnector.ts";

const CLIENT_NAME = "@catbus/client/0.1.0";

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
  readonly #options: ResolvedOptions;
  /** The nodes to try: the configured URLs, then the node list of the server's welcome. */
  readonly #nodes: NodeList;
  readonly #tokens: TokenSource;
  readonly #reconnect: Reconnector;
  readonly #requests: PendingRequests;
  readonly #subs = new Subscriber(
    (type, meta) => this.#request(type, meta),
    () => this.#state === "connected",
  );
  readonly #stateHandlers = new Set<(s: ConnectionState) => void>();
  readonly #errorHandlers = new Set<(e: CatbusError) => void>();
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
  #conn?: ServerConnection;
  #id?: string;
  #welcome?: WelcomeMeta;

  constructor(options: ClientOptions) {
    this.#options = withDefaults(options);
    this.#nodes = new NodeList(options.url);
    this.#tokens = new TokenSource(options.token, options.getToken);
    this.#requests = new PendingRequests(this.#options.requestTimeout);
    this.#offline = new OfflineQueue(this.#options.maxQueueSize);
    this.#reconnect = new Reconnector(this.#options, {
      open: (current) => this.#open(current),
      isPermanent: (e): e is CatbusError =>
        e instanceof CatbusError && this.#tokens.isPermanent(e.code),
      setState: (state) => this.#setState(state),
      reportError: (e) => this.#emitError(e),
      ended: (e) => {
        this.#offline.rejectAll(e);
        this.#setState("disconnected");
      },
    });
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
    return this.#subs.onRecovery(handler);
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
    return this.#reconnect.connect(retry);
  }

  /** Closes the connection for good: no reconnect; queued and pending work is rejected. */
  disconnect(): Promise<void> {
    this.#reconnect.stop();
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
        (handler, streamOptions) => this.#subs.subscribe(pattern, handler, streamOptions),
        handlerOrOptions ?? {},
      );
    }
    return this.#subs.subscribe(pattern, handlerOrOptions as MessageHandler, options);
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
    if (!this.#options.offlineQueue || this.#reconnect.stopped) {
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
    const { meta, data, flags } = publishFrame(channel, payload, options);
    this.#conn.send(encodeFrame(FrameType.Publish, 0, meta, data, flags));
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
    try {
      return this.publish(replyTarget(meta.headers), payload);
    } catch (e) {
      return Promise.reject(e);
    }
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
    const { meta, data, flags } = publishFrame(channel, payload, options);
    const sent = this.#request(FrameType.Publish, meta, data, flags);
    return sent as unknown as Promise<PublishResult>;
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
    return this.#requests.send(conn, type, meta, data, flags, collect);
  }

  /** Opens a transport connection and completes hello; then restores subscriptions. */
  async #open(current: () => boolean): Promise<void> {
    const conn: ServerConnection = await ServerConnection.open(
      this.#options.transport,
      this.#nodes.next(),
      this.#options.connectTimeout,
      {
        frame: (frame) => this.#conn === conn && this.#onFrame(frame),
        unreadable: (kind) =>
          this.#conn === conn &&
          this.#emitError(
            new CatbusError(ErrorCode.BadRequest, `unreadable data from the server (${kind})`),
          ),
        closed: () => this.#conn === conn && this.#onLost(),
      },
    );
    if (!current()) {
      // disconnect() was called while the transport was connecting: do not keep what it opened.
      conn.close();
      throw disconnected();
    }
    this.#conn = conn;
    this.#requests.startSweeping();
    this.#setState("authenticating");
    let welcome: WelcomeMeta;
    try {
      welcome = await this.#request(FrameType.Hello, {
        version: PROTOCOL_VERSION,
        token: await this.#tokens.forHello(),
        client: this.#options.name ?? CLIENT_NAME,
      }) as unknown as WelcomeMeta;
    } catch (e) {
      this.#teardown();
      throw e;
    }
    this.#tokens.welcomed();
    this.#welcome = welcome;
    this.#nodes.advertised(welcome.nodes);
    this.#id = welcome.clientId;
    this.#reconnect.connected();
    this.#setState("connected");
    this.#startHeartbeat();
    this.#subs.restore();
    this.#consumers.rebind((e) => this.#emitError(e));
    this.#offline.flush((channel, payload, options) =>
      this.#sendPublish(channel, payload, options)
    );
  }

  /** The server said the token expires soon: hand it a new one over this connection. */
  async #refreshToken(): Promise<void> {
    const conn = this.#conn;
    if (!conn) return;
    try {
      await this.#tokens.refresh(async (token) => {
        // Reconnected meanwhile: with a fresh token anyway.
        if (this.#conn === conn) await this.#request(FrameType.Refresh, { token });
      });
    } catch (e) {
      // A refused token: the server closes the connection; the reconnect asks getToken again.
      this.#emitError(e as CatbusError);
    }
  }

  #onFrame(frame: Frame) {
    switch (frame.type) {
      case FrameType.Message:
        if (frame.id !== 0) return this.#requests.collect(frame);
        return this.#onMessage(frame);
      case FrameType.Ok:
      case FrameType.Welcome:
      case FrameType.Pong:
        return this.#requests.resolve(frame.id, parseMeta(frame));
      case FrameType.Error: {
        const meta = parseMeta<ErrorMeta>(frame);
        const error = new CatbusError(meta.code, meta.message);
        if (frame.id !== 0) {
          return this.#requests.reject(frame.id, error);
        }
        if (this.#tokens.isPermanent(meta.code)) this.#reconnect.halt();
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
      this.#subs.gap(notice.namespace);
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
      this.#subs.end(notice.pattern, new CatbusError(ErrorCode.Revoked, notice.message));
    }
  }

  /** The connection dropped: fail what was in flight, then reconnect unless told not to. */
  #onLost() {
    this.#teardown();
    this.#reconnect.lost();
  }

  #teardown() {
    const conn = this.#conn;
    this.#conn = undefined;
    conn?.close();
    this.#requests.end(disconnected());
  }

  /** Dead-peer detection for the connection just made (see heartbeat.ts). */
  #startHeartbeat() {
    const interval = this.#options.pingInterval ?? this.#welcome?.heartbeat ?? 15_000;
    const conn = this.#conn;
    conn?.watch(
      interval,
      () => this.#request(FrameType.Ping, undefined).catch(() => {}),
      (silentMs) => this.#conn === conn && this.#dropDead(silentMs),
    );
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
