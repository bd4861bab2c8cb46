import type { Authenticator } from "../auth/authenticator.ts";
import type { Principal } from "../auth/grants.ts";
import type {
  Broker,
  Loss,
  Published,
  PublishInput,
  PublishOutcome,
  Subscriber,
} from "../core/broker.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { type BusMessage, encodedOnce } from "../core/message.ts";
import {
  type FrameSink,
  OutboundQueue,
  type OutboundQueueOptions,
} from "../core/outbound-queue.ts";
import type { ReplyHolder, ReplyHolders } from "../core/replies.ts";
import { namespaceOf } from "../../client/shared/subject.ts";
import {
  type DecodeEvent,
  encodeFrame,
  Flag,
  type Frame,
  FrameDecoder,
  FrameType,
  parseMeta,
} from "../../client/shared/frame.ts";
import {
  type AckMeta,
  type ErrorMeta,
  type HelloMeta,
  type HistoryMeta,
  type HistoryResultMeta,
  type NoticeMeta,
  PROTOCOL_VERSION,
  type RefreshedMeta,
  type RefreshMeta,
  type SubscribedMeta,
  type SubscribeMeta,
  type UnsubscribeMeta,
  type WelcomeMeta,
} from "../../client/shared/messages.ts";
import { parseStart } from "../core/start.ts";
import { parsePublishHeaders, parsePublishOptions } from "./validate.ts";
import { publishMetaOf } from "./publish-meta.ts";
import { messageFrame } from "./message-frame.ts";
import { SessionConsumers } from "./consumer-ops.ts";
import { queueStoredFrames } from "./stored-frames.ts";
import { SessionPresence } from "./presence-ops.ts";
import { type HistoryLimits, readHistory } from "../access/history.ts";
import { authorizePresence } from "../access/presence.ts";
import type { PresenceRegistry } from "../core/presence.ts";
import { openNamespace } from "../access/publish.ts";
import { Publisher } from "../access/publisher.ts";
import { authorizeSubscribe, replaySubscriber } from "../access/subscribe.ts";
import { type Gap, type LagHooks, LagPolicy, type LiveSink } from "../access/lag.ts";
import { type GrantedRead, regrant } from "../access/regrant.ts";
import { exceedsJsonDepth, jsonTooDeep } from "../core/json-depth.ts";
import type { ConsumerRegistry } from "../streams/consumer-registry.ts";
import type { Delivery } from "../streams/consumer.ts";
import type { Logger } from "../core/logger.ts";

export interface SessionLimits {
  maxPayload: number;
  maxSubscriptions: number;
  /** Publishes per second per connection (0 = no limit). */
  maxPublishRate: number;
  /** Publishes of one connection waiting for the log at once; past it reading pauses. */
  maxPublishesInFlight: number;
  /** Time to complete hello before the connection is closed (ms). */
  helloTimeoutMs: number;
  /** Per-connection outbound queue limit in bytes. */
  outboundBytes: number;
  heartbeatMs: number;
  /** Deepest nesting of arrays and objects in a frame's meta or a JSON payload. */
  maxJsonDepth: number;
}

export type SessionLimitsWithHistory = SessionLimits & HistoryLimits;

export interface SessionHost {
  broker: Broker;
  consumers: ConsumerRegistry;
  presence: PresenceRegistry;
  authenticator: Authenticator;
  /** Who may answer which request, shared by every door. */
  replies: ReplyHolders;
  limits: SessionLimitsWithHistory;
  serverName: string;
  /** With a shared engine: the URLs of the cluster's live nodes (the welcome's `nodes`). */
  nodeUrls?: () => readonly string[];
  /** Refuses namespaces that may not be created (a declared list); resolves when allowed. */
  checkNamespace(name: string): Promise<void>;
  /** Called for every new connection: false when the server is at its connection limit. */
  admit(): boolean;
  /** Called once the session is authenticated, and once when it ends (admitted or not). */
  attach(session: Session): void;
  detach(session: Session, admitted: boolean): void;
  log: Logger;
}

/** What a transport hands the session: a writer and a way to hang up. */
export interface SessionTransport extends FrameSink {
  close(): void;
  readonly remote: string;
}

const MESSAGE_FORMAT = "native";
/** Numbers sessions, to name each one's reply permits. */
let sessionCount = 0;
/** Where every session's chains start: one settled promise, not three per connection. */
const SETTLED: Promise<void> = Promise.resolve();
const IGNORE = () => {};

/** The native frame of a delivered message: one encoding shared by every native connection. */
const encodeMessage = (m: BusMessage): Uint8Array => messageFrame(m);

/** A publish's answer, built as a string (see message-frame.ts). */
const publishedMeta = (m: Published): string =>
  `{"epoch":"${m.epoch}","seq":${m.seq},"id":"${m.id}","time":${m.time}` +
  (m.duplicate ? `,"duplicate":true}` : "}");

/** The channel a refused fire-and-forget publish named, for its notice ("" when unreadable). */
function channelOf(frame: Frame): string {
  try {
    return String(publishMetaOf(frame).channel ?? "");
  } catch {
    return "";
  }
}

/** A durable consumer's delivery: the message frame plus consumer name and attempt. */
const encodeDelivery = ({ message: m, consumer, attempt }: Delivery): Uint8Array =>
  messageFrame(m, 0, `,"consumer":"${consumer}","attempt":${attempt}`);

/** What a session's queue, lag policy and publishes call back (`Session.#Wire`). */
type SessionWire = OutboundQueueOptions & LiveSink & LagHooks & PublishOutcome<number>;

/**
 * One native-protocol connection, whatever carries its bytes (TCP, WebSocket, WebTransport).
 * Turns frames into broker calls, enforces grants and limits, and applies the slow-consumer
 * policy: a plain subscriber that cannot keep up loses messages until its queue drains, then
 * gets a `gap` notice per namespace (it can resubscribe with `resume` to recover from history).
 */
export class Session implements Subscriber {
  /**
   * What the queue, the lag policy and the broker call back: one small object per session whose
   * methods are shared (in the class body, so they reach the session's private members), where
   * closures would cost every idle connection several hundred bytes.
   */
  static readonly #Wire = class implements SessionWire {
    constructor(readonly session: Session, readonly maxBytes: number) {}
    /** A write failed: the session ends. */
    onError() {
      this.session.close();
    }
    push(m: BusMessage) {
      return this.session.#queue.push(encodedOnce(m, MESSAGE_FORMAT, encodeMessage), true);
    }
    drained() {
      // Live delivery resumes once the client has read half of what was queued.
      return this.session.#queue.drained(this.maxBytes / 2);
    }
    onLag() {
      const session = this.session;
      session.#host.log("warn", "slow consumer: dropping messages", session.logFields());
    }
    onCaughtUp(gaps: Gap[]) {
      for (const gap of gaps) this.session.lost({ ...gap, code: ErrorCode.SlowConsumer });
    }
    /** A publish of a batch went in: ok (nothing for fire and forget). */
    published(id: number, m: Published) {
      this.session.#answered();
      if (id !== 0) {
        this.session.#queue.push(encodeFrame(FrameType.Ok, id, publishedMeta(m)), false);
      }
    }
    /** A publish of a batch was refused: an error, or a notice for fire and forget. */
    failed(id: number, e: unknown, channel: string) {
      this.session.#answered();
      this.session.#refuse(id, e, channel);
    }
  };
  lastDelivered?: BusMessage;
  principal?: Principal;
  /** Last time a frame arrived, for the heartbeat sweep. */
  lastSeen = Date.now();

  readonly #host: SessionHost;
  readonly #transport: SessionTransport;
  readonly #wire: SessionWire;
  readonly #queue: OutboundQueue;
  readonly #decoder: FrameDecoder;
  /** Made at the first subscribe, as the parts below at their first use. */
  #patterns?: Set<string>;
  readonly #lag: LagPolicy;
  #closed = false;
  /** Frames that arrived before hello finished wait here, in order (auth is async). */
  #chain = SETTLED;
  #waiting = 0;
  #subscriptionChain = SETTLED;
  #consumers?: SessionConsumers;
  #presence?: SessionPresence;
  readonly #admitted: boolean;
  /** Dropped once hello is done: an idle connection keeps no timer. */
  #helloTimer?: ReturnType<typeof setTimeout>;
  /** Made at the first publish: the access layer's publish rules for this connection. */
  #publisher?: Publisher;
  /** Requests delivered on this connection may be answered from it (and only from it). */
  readonly #replies: ReplyHolder;
  /**
   * The publishes of the read being decoded, with their request ids (0: fire and forget),
   * handed to the broker together once the read is decoded or another kind of frame comes.
   */
  #batch?: PublishInput[];
  #batchIds?: number[];
  /** Publishes taken in and not yet durable or failed (fire-and-forget ones included). */
  #inFlight = 0;
  /** Made when reading paused for `#inFlight`; resolved once half of it is answered. */
  #drained?: PromiseWithResolvers<void>;
  readonly #onEventBound = (event: DecodeEvent) => this.#onEvent(event);
  /** Publishes waiting for their namespace to be created, in order, and how many. */
  #creation = SETTLED;
  #creating = 0;

  constructor(host: SessionHost, transport: SessionTransport) {
    this.#host = host;
    this.#replies = host.replies.holder(`native-${++sessionCount}`);
    this.#transport = transport;
    this.#wire = new Session.#Wire(this, host.limits.outboundBytes);
    this.#queue = new OutboundQueue(transport, this.#wire);
    this.#lag = new LagPolicy(this.#wire, this.#replies, this.#wire);
    const limits = host.limits;
    this.#helloTimer = setTimeout(() => {
      if (!this.principal) {
        this.close(
          new CatbusError(
            ErrorCode.Timeout,
            `no hello within ${limits.helloTimeoutMs} ms; send hello with a token first`,
          ),
        );
      }
    }, limits.helloTimeoutMs);
    this.#admitted = host.admit();
    if (!this.#admitted) {
      // Refused before anything else happens on this connection; the transport is set up now.
      queueMicrotask(() =>
        this.close(
          new CatbusError(
            ErrorCode.LimitExceeded,
            "the server is at its connection limit (--max-connections); retry later",
          ),
        )
      );
    }
    this.#decoder = new FrameDecoder({
      maxFrameBytes: host.limits.maxPayload + 64 * 1024,
    });
  }

  #consumerOps(): SessionConsumers {
    const replies = this.#replies;
    return this.#consumers ??= new SessionConsumers(
      this.#host,
      this.#queue,
      encodeDelivery,
      (m) => replies.delivered(m),
    );
  }

  #presenceOps(): SessionPresence {
    return this.#presence ??= new SessionPresence(this.#host.presence, this);
  }

  /** What every log line about this connection carries (the host's logger adds the door). */
  logFields(): { remote: string; client_id?: string } {
    const clientId = this.principal?.clientId;
    return { remote: this.remote, ...(clientId ? { client_id: clientId } : {}) };
  }

  get queuedBytes(): number {
    return this.#queue.pendingBytes;
  }

  get remote(): string {
    return this.#transport.remote;
  }

  /**
   * Feeds bytes from the transport. Returns a promise when the transport should stop reading
   * until it settles: this connection's publishes outran the log (a fire-and-forget publisher
   * gets no answer to wait for, so the socket's own flow control paces it).
   */
  receive(chunk: Uint8Array): Promise<void> | void {
    if (this.#closed) return;
    this.lastSeen = Date.now();
    this.#decoder.push(chunk, this.#onEventBound);
    this.#publishBatch();
    if (this.#inFlight >= this.#host.limits.maxPublishesInFlight) {
      return (this.#drained ??= Promise.withResolvers()).promise;
    }
  }

  /** A publish was answered: reading goes on once half of the limit is. */
  #answered() {
    this.#inFlight--;
    if (this.#drained && this.#inFlight <= this.#host.limits.maxPublishesInFlight / 2) {
      this.#drained.resolve();
      this.#drained = undefined;
    }
  }

  #refuse(id: number, e: unknown, channel: string) {
    if (id === 0) this.#publishFailed(e, channel);
    else this.#error(id, e);
  }

  /** Called by the broker for each matching message. */
  deliver(message: BusMessage): void {
    this.#lag.deliver(message);
  }

  /** Since when messages are being dropped, or 0. */
  get laggingSince(): number {
    return this.#lag.laggingSince;
  }

  /** Sends an unsolicited notice. */
  notice(meta: NoticeMeta): void {
    this.#send(FrameType.Notice, 0, meta);
  }

  /**
   * Re-checks subscriptions and consumer bindings after the principal's grants changed; ends
   * what is no longer granted.
   */
  regrant(grants: Principal["grants"]): void {
    if (!this.principal) return;
    const reads: GrantedRead[] = [
      ...[...this.#patterns ?? []].map((pattern) => ({ pattern })),
      ...this.#consumers?.reads() ?? [],
    ];
    regrant(this.principal, grants, reads, (read, error) => {
      if (read.consumer) this.#consumers!.stop({ name: read.consumer });
      else {
        this.#patterns!.delete(read.pattern);
        this.#host.broker.unsubscribe(this, read.pattern);
        this.#presence?.unsubscribed(read.pattern);
      }
      this.notice({
        event: "revoked",
        code: error.code,
        pattern: read.pattern,
        ...(read.consumer ? { consumer: read.consumer } : {}),
        message: error.clientMessage,
      });
    });
  }

  /** The token expires soon: the client may send refresh with a new one. */
  expiring(expiresAt: number): void {
    const seconds = Math.max(0, Math.round(expiresAt - Date.now() / 1000));
    this.notice({
      event: "expiring",
      expiresAt,
      message: `this connection's token expires in ${seconds} s; send refresh with a new token`,
    });
  }

  /**
   * Takes a new token for this connection (same client id): new grants and expiry, the
   * subscriptions it still covers kept. A refused refresh is answered, then the connection ends.
   */
  async #onRefresh(frame: Frame): Promise<void> {
    try {
      const { token } = parseMeta<RefreshMeta>(frame);
      const next = await this.#host.authenticator.refresh(this.principal!, token);
      if (this.#closed) return;
      this.principal!.expiresAt = next.expiresAt;
      this.principal!.issuedAt = next.issuedAt;
      this.regrant(next.grants);
      const answer: RefreshedMeta = next.expiresAt === undefined
        ? {}
        : { expiresAt: next.expiresAt };
      this.#send(FrameType.Ok, frame.id, answer);
    } catch (e) {
      this.#error(frame.id, e);
      this.#closeAfterFlush();
    }
  }

  /** Ends the session, optionally telling the client why first. */
  close(error?: CatbusError): void {
    if (this.#closed) return;
    if (error) this.#send(FrameType.Error, 0, error.toJSON());
    this.#closeAfterFlush();
  }

  /** Lets queued frames (an error, an answer) leave, but never waits long on a stalled reader. */
  #closeAfterFlush() {
    if (this.#closed) return;
    this.#closed = true;
    this.#cleanup();
    const hangUp = setTimeout(() => this.#hangUp(), 1000);
    this.#queue.drained().then(() => {
      clearTimeout(hangUp);
      this.#hangUp();
    });
  }

  /** The transport saw the connection end. */
  connectionEnded(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cleanup();
    this.#queue.close();
  }

  #hangUp() {
    this.#queue.close();
    try {
      this.#transport.close();
    } catch { /* already closed */ }
  }

  #cleanup() {
    this.#drained?.resolve();
    this.#drained = undefined;
    for (const p of this.#patterns ?? []) this.#host.broker.unsubscribe(this, p);
    this.#patterns = undefined;
    this.#presence?.leaveAll();
    this.#consumers?.leaveAll();
    clearTimeout(this.#helloTimer);
    this.#host.detach(this, this.#admitted);
  }

  /** A `gap` notice: messages of the namespace after `after` may not have reached this client. */
  lost({ namespace, epoch, after, code }: Loss): void {
    if (this.#closed) return;
    this.notice({ event: "gap", code, namespace, epoch, after, recovered: false });
  }

  #send(type: number, id: number, meta?: unknown) {
    this.#queue.push(encodeFrame(type, id, meta), false);
  }

  #error(id: number, error: unknown, extra: Partial<ErrorMeta> = {}) {
    const e = error instanceof CatbusError
      ? error
      : error instanceof SyntaxError || error instanceof TypeError
      ? new CatbusError(
        ErrorCode.BadRequest,
        `malformed frame: ${error.message}`,
      )
      : new CatbusError(
        ErrorCode.Internal,
        "internal error; see the server log",
      );
    if (e.code === ErrorCode.Internal || e.clientMessage !== e.message) {
      this.#host.log("warn", e.code === ErrorCode.Internal ? "internal error" : e.message, {
        error: String(error),
        ...this.logFields(),
      });
    }
    this.#send(FrameType.Error, id, { ...e.toJSON(), ...extra });
  }

  #onEvent(event: DecodeEvent) {
    if (event.kind === "corrupt") {
      this.close(
        new CatbusError(
          ErrorCode.BadRequest,
          `unreadable stream: ${event.reason}`,
        ),
      );
    } else if (event.kind === "oversize") {
      this.#error(
        event.id,
        new CatbusError(
          ErrorCode.TooLarge,
          `frame of ${event.length} bytes exceeds the limit; payloads may be at most ${this.#host.limits.maxPayload} bytes`,
        ),
      );
    } else if (exceedsJsonDepth(event.frame.meta, this.#host.limits.maxJsonDepth)) {
      this.#error(
        event.frame.id,
        new CatbusError(
          ErrorCode.BadRequest,
          jsonTooDeep("the frame's meta", this.#host.limits.maxJsonDepth),
        ),
      );
    } else if (this.principal && this.#waiting === 0) {
      this.#onFrame(event.frame);
    } else {
      // Until hello is done, frames wait their turn (hello verifies the token asynchronously).
      const frame = {
        ...event.frame,
        meta: event.frame.meta.slice(),
        data: event.frame.data.slice(),
      };
      this.#waiting++;
      this.#chain = this.#chain.then(async () => {
        if (!this.#closed) await this.#onFrameBeforeAuth(frame);
        this.#publishBatch();
        // Nothing waits any more: the chain's settled end is not kept on an idle connection.
        if (--this.#waiting === 0) this.#chain = SETTLED;
      });
    }
  }

  async #onFrameBeforeAuth(frame: Frame) {
    if (this.principal) return this.#onFrame(frame);
    if (frame.type !== FrameType.Hello) {
      return this.close(
        new CatbusError(
          ErrorCode.Unauthorized,
          "the first frame must be hello with a token",
        ),
      );
    }
    try {
      const hello = parseMeta<HelloMeta>(frame);
      if (hello.version !== PROTOCOL_VERSION) {
        throw new CatbusError(
          ErrorCode.BadRequest,
          `protocol version ${hello.version} is not supported; this server speaks ${PROTOCOL_VERSION}`,
        );
      }
      this.principal = await this.#host.authenticator.authenticate(hello.token);
    } catch (e) {
      const err = e instanceof CatbusError ? e : new CatbusError(ErrorCode.BadRequest, String(e));
      this.#send(FrameType.Error, frame.id, err.toJSON());
      return this.#closeAfterFlush();
    }
    clearTimeout(this.#helloTimer);
    this.#helloTimer = undefined;
    this.#host.attach(this);
    const welcome: WelcomeMeta = {
      version: PROTOCOL_VERSION,
      server: this.#host.serverName,
      clientId: this.principal.clientId,
      maxPayload: this.#host.limits.maxPayload,
      heartbeat: this.#host.limits.heartbeatMs,
    };
    const nodes = this.#host.nodeUrls?.();
    if (nodes?.length) welcome.nodes = [...nodes];
    this.#send(FrameType.Welcome, frame.id, welcome);
  }

  #onFrame(frame: Frame) {
    if (frame.type === FrameType.Publish) return this.#onPublish(frame);
    // Whatever else comes is handled after the publishes sent before it.
    this.#publishBatch();
    try {
      switch (frame.type) {
        case FrameType.Subscribe:
          return this.#answer(frame.id, this.#onSubscribe(frame));
        case FrameType.Unsubscribe:
          return this.#answer(frame.id, this.#onUnsubscribe(frame));
        case FrameType.ConsumerCreate:
          return this.#answer(
            frame.id,
            this.#consumerOps().create(this.principal!, parseMeta(frame)),
          );
        case FrameType.ConsumerDelete:
          return this.#answer(
            frame.id,
            this.#consumerOps().delete(this.principal!, parseMeta(frame)),
          );
        case FrameType.ConsumerList:
          return this.#send(FrameType.Ok, frame.id, this.#consumerOps().list(this.principal!));
        case FrameType.Consume: {
          const bound = this.#consumerOps().consume(this.principal!, parseMeta(frame));
          this.#send(FrameType.Ok, frame.id, bound.info);
          return bound.start();
        }
        case FrameType.Stop:
          return this.#send(FrameType.Ok, frame.id, this.#consumerOps().stop(parseMeta(frame)));
        case FrameType.Ack:
          return this.#onAck(frame);
        case FrameType.History:
          return this.#answer(frame.id, this.#onHistory(frame));
        case FrameType.Presence:
          return this.#send(
            FrameType.Ok,
            frame.id,
            this.#presenceOps().members(this.principal!, parseMeta(frame)),
          );
        case FrameType.Ping:
          return this.#send(FrameType.Pong, frame.id);
        case FrameType.Pong:
          return;
        case FrameType.Refresh:
          return void this.#onRefresh(frame);
        case FrameType.Hello:
          throw new CatbusError(
            ErrorCode.BadRequest,
            "hello was already done on this connection",
          );
        default:
          throw new CatbusError(
            ErrorCode.UnknownOp,
            `unknown frame type ${frame.type}; see docs/protocol.md for the operations`,
          );
      }
    } catch (e) {
      this.#error(frame.id, e);
    }
  }

  /**
   * A publish joins the batch of its read when its namespace exists (the common case): checked
   * here, handed to the broker with the others, no promise per message. One into a namespace
   * not there yet waits for it to be created, after the batch so far.
   */
  #onPublish(frame: Frame) {
    let input: PublishInput;
    try {
      input = this.#publishInput(frame);
    } catch (e) {
      // Answered in order: the publishes before it go first.
      this.#publishBatch();
      return this.#refuse(frame.id, e, frame.id === 0 ? channelOf(frame) : "");
    }
    this.#inFlight++;
    const broker = this.#host.broker;
    if (this.#creating === 0 && broker.namespace(namespaceOf(input.channel))) {
      (this.#batch ??= []).push(input);
      (this.#batchIds ??= []).push(frame.id);
      return;
    }
    // Publishes stay in order: this one and those after it wait for the namespace.
    this.#publishBatch();
    this.#creating++;
    this.#creation = this.#creation.then(async () => {
      try {
        await openNamespace(broker, this.principal!, input.channel, this.#host.checkNamespace);
        broker.publishBatch([input], [frame.id], this.#wire);
      } catch (e) {
        this.#wire.failed(frame.id, e, input.channel);
      }
      this.#creating--;
    });
  }

  #publishBatch() {
    const inputs = this.#batch;
    if (inputs === undefined) return;
    const ids = this.#batchIds!;
    this.#batch = this.#batchIds = undefined;
    this.#host.broker.publishBatch(inputs, ids, this.#wire);
  }

  /** Checks a publish frame against the connection's grants and limits: the broker's input. */
  #publishInput(frame: Frame): PublishInput {
    const meta = publishMetaOf(frame);
    const channel = meta.channel;
    const binary = (frame.flags & Flag.Binary) !== 0;
    const headers = parsePublishHeaders(meta.headers);
    this.#publisher ??= new Publisher(this.principal!, this.#replies, this.#host.limits);
    this.#publisher.authorize({ channel, payload: frame.data, binary, headers });
    const input: PublishInput = {
      channel,
      // Copy now: the frame is a view on the transport's read buffer.
      payload: frame.data.slice(),
      binary,
      headers,
      request: meta.request === true,
    };
    parsePublishOptions(meta, input);
    return input;
  }

  #onSubscribe(frame: Frame): Promise<SubscribedMeta> {
    const meta = parseMeta<SubscribeMeta>(frame);
    const pattern = meta.pattern;
    authorizeSubscribe(this.principal!, pattern);
    if (SessionPresence.wanted(meta)) authorizePresence(this.principal!, pattern);
    const patterns = this.#patterns;
    if (
      !patterns?.has(pattern) && (patterns?.size ?? 0) >= this.#host.limits.maxSubscriptions
    ) {
      throw new CatbusError(
        ErrorCode.LimitExceeded,
        `at most ${this.#host.limits.maxSubscriptions} subscriptions per connection; ` +
          `use a wildcard pattern or another connection`,
      );
    }
    const start = parseStart(meta);
    const replay = replaySubscriber({
      // Encoded without caching: a replay goes to one subscriber, and caching would keep the
      // frame alive as long as the message stays in history.
      send: (m) => this.#queue.push(encodeMessage(m), false),
      sendStored: (records, picks, from, to) =>
        queueStoredFrames(this.#queue, records, picks, from, to),
      ready: () => this.#queue.room(),
      gone: () => this.#closed || this.#queue.closed,
    }, this.#replies);
    return this.#inOrder(async () => {
      const result = await this.#host.broker.subscribe(this, pattern, start, replay);
      if (this.#closed) {
        this.#host.broker.unsubscribe(this, pattern);
        return result;
      }
      try {
        if (SessionPresence.wanted(meta)) this.#presenceOps().subscribed(meta);
      } catch (e) {
        if (!this.#patterns?.has(pattern)) this.#host.broker.unsubscribe(this, pattern);
        throw e;
      }
      (this.#patterns ??= new Set()).add(pattern);
      return result;
    });
  }

  #onUnsubscribe(frame: Frame): Promise<UnsubscribeMeta> {
    const { pattern } = parseMeta<UnsubscribeMeta>(frame);
    return this.#inOrder(() => {
      if (!this.#patterns?.delete(pattern)) {
        throw new CatbusError(ErrorCode.NotFound, `not subscribed to "${pattern}"`);
      }
      this.#host.broker.unsubscribe(this, pattern);
      this.#presence?.unsubscribed(pattern);
      return Promise.resolve({ pattern });
    });
  }

  /**
   * A page of a channel's history: its messages as message frames carrying the request's id
   * (so the client tells them from live ones), then the ok.
   */
  async #onHistory(frame: Frame): Promise<HistoryResultMeta> {
    const page = await readHistory(
      this.#host.broker,
      this.principal!,
      parseMeta<HistoryMeta>(frame),
      this.#host.limits,
    );
    for (const m of page.messages) {
      // Paced as a replay is: the page waits while the connection's queue is full.
      const full = this.#queue.room();
      if (full) await full;
      if (this.#closed) break;
      this.#queue.push(messageFrame(m, frame.id), false);
    }
    const answer: HistoryResultMeta = { epoch: page.epoch, count: page.messages.length };
    if (page.next !== undefined) answer.next = page.next;
    return answer;
  }

  /** Subscribe and unsubscribe of one connection take effect in the order they were sent. */
  #inOrder<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#subscriptionChain.then(step);
    this.#subscriptionChain = run.then(IGNORE, IGNORE);
    return run;
  }

  /**
   * A publish with id 0 wants no answer (the fast path for streams of events); if it fails the
   * client still learns why, through a `publish_failed` notice, and the connection goes on.
   */
  #publishFailed(e: unknown, channel: string) {
    const err = e instanceof CatbusError ? e : new CatbusError(ErrorCode.BadRequest, String(e));
    this.notice({ event: "publish_failed", code: err.code, message: err.clientMessage, channel });
  }

  /** An ack with id 0 is fire and forget (failures come back as `ack_failed` notices). */
  #onAck(frame: Frame) {
    const meta = parseMeta<AckMeta>(frame);
    const consumers = this.#consumerOps();
    if (frame.id !== 0) return this.#answer(frame.id, consumers.ack(this.principal!, meta));
    consumers.ackQuietly(this.principal!, meta, (notice) => this.notice(notice));
  }

  /** Sends the operation's result as ok, or its failure as an error, for request `id`. */
  #answer(id: number, result: Promise<unknown>) {
    result.then((meta) => this.#send(FrameType.Ok, id, meta), (e) => this.#error(id, e));
  }
}
