import type { Change } from "../../sm/change.ts";
import type { Result, StateMachineEngine } from "../../sm/engine.ts";
import { badRequest, SmError, SmErrorCode, toSmError } from "../../sm/errors.ts";
import { ParamReader } from "../../sm/params.ts";
import { instanceNotFound } from "../../sm/planner.ts";
import type { Principal } from "../../auth/grants.ts";
import { OutboundQueue } from "../../core/outbound-queue.ts";
import type { LiveConnection, SessionRegistry } from "../../auth/live-connections.ts";
import type { TcpConnection } from "../../transport/tcp.ts";
import {
  encodeFrame,
  FrameDecoder,
  FrameFlag,
  MAX_PAYLOAD_BYTES,
  PROTOCOL_VERSION,
} from "./frame.ts";
import { encodeLine, LineDecoder } from "./jsonl.ts";
import {
  endMessage,
  errorResponse,
  eventMessage,
  okResponse,
  parseRequest,
  type RcpRequest,
} from "./messages.ts";
import { type AuthThrottle, limited } from "./auth-throttle.ts";
import { DATA_OPS } from "./ops.ts";
import { certificatePrincipal, tokenPrincipal } from "./principal.ts";
import type { TokenVerifier } from "./token-hashes.ts";
import type { WatchFilter, WatchHub, WatchSink } from "./watch-hub.ts";

export type WireMode = "binary_json" | "jsonl";
/** Opt-in: watchers also get `$created` / `$deleted` events (rstmdb streams transitions only). */
export const LIFECYCLE_EVENTS = "lifecycle_events";
export const FEATURES = [
  "idempotency",
  "batch",
  "watch",
  "wal_read",
  "compaction",
  LIFECYCLE_EVENTS,
];
const OPT_IN_FEATURES = new Set([LIFECYCLE_EVENTS]);
export const MAX_FRAME_BYTES = MAX_PAYLOAD_BYTES;

/** What every session of one listener shares. */
export interface RcpHost {
  engine: StateMachineEngine;
  watches: WatchHub;
  auth: TokenVerifier;
  serverName: string;
  serverVersion: string;
  /** Outbound bytes a connection may have queued before watchers are ended and reads pause. */
  outboundLimitBytes: number;
  /** Failed AUTH per client address; its limit also applies per connection. */
  authThrottle: AuthThrottle;
  /** Deepest nesting of arrays and objects in a request (params, ctx, payload). */
  maxJsonDepth: number;
  /** The live-connection registry of every door: authenticated connections are in it. */
  live: Pick<SessionRegistry, "add" | "delete">;
}

/** Allowed before AUTH when auth is required. */
const BEFORE_AUTH = new Set(["HELLO", "AUTH", "PING", "BYE"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * One RCP connection: decodes frames (or jsonl lines), enforces AUTH, runs requests
 * (pipelined: answers go out as they complete, matched by id), and queues responses and watch
 * events into batched writes. Requests are handed to the engine synchronously in arrival
 * order, so a client's pipelined writes apply in the order it sent them.
 */
export class RcpSession implements WatchSink {
  readonly #host: RcpHost;
  readonly #transport: TcpConnection;
  /**
   * What the client sends, read from its first byte ("{" jsonl, anything else binary frames)
   * and again after a HELLO ("R" of RCPX or "{"): rstmdb switches only its output there, so its
   * clients keep sending frames while others switch both ways.
   */
  #inputMode: WireMode | undefined;
  /** The input's mode before the last HELLO: kept unless the next byte is "R" or "{". */
  #lastInputMode: WireMode = "binary_json";
  /** What the server sends: the input's mode until a HELLO picks one. */
  #outputMode: WireMode | undefined;
  readonly #frames = new FrameDecoder();
  readonly #lines = new LineDecoder();
  /** Set by HELLO: the output mode after its answer. */
  #switchTo?: WireMode;
  /** HELLO asked for `lifecycle_events`. */
  #lifecycle = false;
  #greeted = false;
  #authenticated = false;
  #authFailures = 0;
  readonly #subscriptions = new Set<string>();
  readonly #queue: OutboundQueue;
  /** This connection in the live-connection registry, once it has a principal. */
  #live?: LiveConnection;
  #closing = false;

  constructor(host: RcpHost, transport: TcpConnection) {
    this.#host = host;
    this.#transport = transport;
    this.#queue = new OutboundQueue(transport, {
      maxBytes: host.outboundLimitBytes,
      onError: () => transport.close(),
    });
    if (transport.identity) this.#identify(certificatePrincipal(transport.identity));
  }

  /** Who the client is: a verified token, else its client certificate, else nobody. */
  get principal(): Principal | undefined {
    return this.#live?.principal;
  }

  /**
   * Whether the client has sent a request (until then the listener's hello timeout runs).
   * HELLO itself is optional, as in rstmdb.
   */
  get greeted(): boolean {
    return this.#greeted;
  }

  /** Feeds received bytes; the promise (when any) resolves once the outbound queue drains. */
  receive(chunk: Uint8Array): Promise<void> | void {
    if (this.#closing || !chunk.length) return;
    this.#feed(chunk);
    this.#drain();
    return this.backlog();
  }

  #feed(chunk: Uint8Array) {
    this.#inputMode ??= chunk[0] === 0x7b
      ? "jsonl"
      : chunk[0] === 0x52 || !this.#outputMode
      ? "binary_json"
      : this.#lastInputMode;
    this.#outputMode ??= this.#inputMode;
    if (this.#inputMode === "jsonl") this.#lines.push(chunk);
    else this.#frames.push(chunk);
  }

  /** The transport is gone. */
  connectionEnded(): void {
    this.#closing = true;
    for (const id of this.#subscriptions) this.#host.watches.unwatch(id);
    this.#subscriptions.clear();
    this.#queue.close();
    if (this.#live) this.#host.live.delete(this.#live);
  }

  /** Registers the connection as `principal` (replacing what it was registered as). */
  #identify(principal: Principal) {
    if (this.#live) this.#host.live.delete(this.#live);
    this.#live = {
      principal,
      // RCP has no notice for it: what is queued is written, then the connection closes.
      close: () => this.#close(),
      // RCP principals have no role to change.
      regrant: () => {},
    };
    this.#host.live.add(this.#live);
  }

  #drain() {
    while (!this.#closing && this.#inputMode) {
      if (this.#inputMode === "jsonl") {
        const ev = this.#lines.next();
        if (!ev) return;
        if (ev.kind === "rejected") {
          this.#reply("", new SmError(SmErrorCode.BadRequest, ev.message));
        } else this.#onPayload(ev.payload);
      } else {
        const ev = this.#frames.next();
        if (!ev) return;
        if (ev.kind === "fatal") {
          this.#reply("", badRequest(ev.message));
          this.#close();
        } else if (ev.kind === "rejected") this.#reply("", new SmError(ev.code, ev.message));
        else this.#onPayload(ev.payload);
      }
      if (this.#switchTo) {
        // After a HELLO the client may send in either mode: bytes already received are read
        // again from their first one.
        this.#outputMode = this.#switchTo;
        this.#switchTo = undefined;
        const rest = this.#inputMode === "jsonl" ? this.#lines.rest() : this.#frames.rest();
        this.#lastInputMode = this.#inputMode;
        this.#inputMode = undefined;
        if (rest.length) this.#feed(rest);
      }
    }
  }

  #onPayload(payload: Uint8Array) {
    let text: string;
    try {
      text = decoder.decode(payload);
    } catch {
      return this.#reply("", badRequest("payload is not valid UTF-8"));
    }
    const parsed = parseRequest(text, this.#host.maxJsonDepth);
    if ("error" in parsed) return this.#reply(parsed.id, badRequest(parsed.error));
    this.#onRequest(parsed.request);
  }

  #onRequest(req: RcpRequest) {
    this.#greeted = true;
    const { id, op } = req;
    const data = DATA_OPS.get(op);
    const own = this.#connectionOps.get(op);
    if (!data && !own) {
      return this.#reply(
        id,
        badRequest(`unknown op ${JSON.stringify(op)}; INFO lists what this server supports`),
      );
    }
    if (this.#host.auth.required && !this.#authenticated && !BEFORE_AUTH.has(op)) {
      return this.#reply(
        id,
        new SmError(
          SmErrorCode.Unauthorized,
          `${op} needs authentication: send AUTH {method:"bearer", token} first`,
        ),
      );
    }
    let answer: Result | Promise<Result>;
    try {
      const params = new ParamReader(op, req.params);
      answer = data ? data(this.#host.engine, params) : own!(params);
    } catch (e) {
      return this.#reply(id, toSmError(e));
    }
    if (answer instanceof Promise) {
      answer.then((r) => this.#reply(id, r), (e) => this.#reply(id, toSmError(e)));
      return;
    }
    this.#reply(id, answer);
  }

  readonly #connectionOps = new Map<string, (p: ParamReader) => Result | Promise<Result>>([
    ["HELLO", (p) => this.#onHello(p)],
    ["AUTH", (p) => this.#onAuth(p)],
    ["PING", () => ({ pong: true })],
    ["BYE", () => {
      // Nothing more is read; the connection closes once the answer is written.
      this.#closing = true;
      return { goodbye: true };
    }],
    ["INFO", () => ({
      server_name: this.#host.serverName,
      server_version: this.#host.serverVersion,
      protocol_version: PROTOCOL_VERSION,
      features: FEATURES,
      max_frame_bytes: MAX_FRAME_BYTES,
      max_batch_ops: 100,
    })],
    ["WATCH_INSTANCE", (p) => this.#onWatchInstance(p)],
    ["WATCH_ALL", (p) => this.#onWatchAll(p)],
    ["UNWATCH", (p) => {
      const id = p.string("subscription_id");
      // Any connection may end a subscription by id (rstmdb-cli unwatches from a new one).
      this.#subscriptions.delete(id);
      const removed = this.#host.watches.unwatch(id);
      return { subscription_id: id, removed };
    }],
  ]);

  #onHello(p: ParamReader): Result {
    const version = p.integer("protocol_version", 0, 0xffff, PROTOCOL_VERSION);
    if (version !== PROTOCOL_VERSION) {
      throw new SmError(
        SmErrorCode.UnsupportedProtocol,
        `protocol_version ${version} is not supported; this server speaks ${PROTOCOL_VERSION}`,
      );
    }
    const wanted = p.stringList("wire_modes");
    // As rstmdb: binary_json when offered, else jsonl when offered, else binary_json (unknown
    // modes are not an error). No list keeps the mode the client started in.
    const mode: WireMode = wanted.includes("binary_json")
      ? "binary_json"
      : wanted.includes("jsonl")
      ? "jsonl"
      : wanted.length
      ? "binary_json"
      : this.#outputMode!;
    const asked = p.stringList("features");
    this.#lifecycle = asked.includes(LIFECYCLE_EVENTS);
    // The answer goes out in the current mode; the switch applies to what follows it.
    this.#switchTo = mode;
    return {
      protocol_version: PROTOCOL_VERSION,
      wire_mode: mode,
      server_name: this.#host.serverName,
      server_version: this.#host.serverVersion,
      features: asked.length
        ? FEATURES.filter((f) => asked.includes(f))
        : FEATURES.filter((f) => !OPT_IN_FEATURES.has(f)),
    };
  }

  #onAuth(p: ParamReader): Result {
    // As rstmdb: a method other than bearer and an empty token fail authentication.
    const method = p.optString("method") ?? "bearer";
    if (method !== "bearer") {
      throw new SmError(
        SmErrorCode.AuthFailed,
        `AUTH method ${JSON.stringify(method)} is not supported; use "bearer"`,
      );
    }
    if (p.raw("token") === "") {
      throw new SmError(SmErrorCode.AuthFailed, "AUTH needs a non-empty token");
    }
    const token = p.string("token");
    if (!this.#host.auth.required) {
      // Without auth.required there is nothing to check, and rstmdb's clients send whatever
      // token they were given: any non-empty one is accepted, as rstmdb does (a configured one
      // still names the principal).
      const hash = this.#host.auth.match(token);
      if (hash) this.#identify(tokenPrincipal(hash));
      this.#authenticated = true;
      return { authenticated: true };
    }
    const throttle = this.#host.authThrottle;
    if (this.#authFailures >= throttle.maxFailures) {
      // Nothing more is read; the connection closes once the answer is written.
      this.#closing = true;
      throw limited("too many failed AUTH attempts on this connection; it is closed");
    }
    throttle.check(this.#transport.hostname);
    const hash = this.#host.auth.match(token);
    if (!hash) {
      this.#authFailures++;
      throttle.failed(this.#transport.hostname);
      throw new SmError(
        SmErrorCode.AuthFailed,
        "the token is not valid; check it, or its hash in the server's configuration",
      );
    }
    this.#identify(tokenPrincipal(hash));
    this.#authenticated = true;
    return { authenticated: true };
  }

  #onWatchInstance(p: ParamReader): Result {
    const instanceId = p.string("instance_id");
    const includeCtx = p.bool("include_ctx", true);
    const fromOffset = replayFrom(p);
    const instance = this.#host.engine.instance(instanceId) ?? instanceNotFound(instanceId);
    const result = {
      instance_id: instanceId,
      current_state: instance.state,
      current_wal_offset: instance.lastWalOffset,
    };
    const filter = { instanceId, machines: [], fromStates: [], toStates: [], events: [] };
    return this.#subscribe(filter, includeCtx, fromOffset, result);
  }

  #onWatchAll(p: ParamReader): Result {
    const filter = {
      machines: p.stringList("machines"),
      fromStates: p.stringList("from_states"),
      toStates: p.stringList("to_states"),
      events: p.stringList("events"),
    };
    const includeCtx = p.bool("include_ctx", true);
    const fromOffset = replayFrom(p);
    return this.#subscribe(filter, includeCtx, fromOffset, {
      wal_offset: this.#host.engine.durableOffset,
    });
  }

  /**
   * Answered synchronously: the response is queued before any event of the subscription
   * (live ones arrive from a later task, replayed ones after a log read).
   */
  #subscribe(
    filter: WatchFilter,
    includeCtx: boolean,
    fromOffset: number | undefined,
    result: Result,
  ): Result {
    const id = this.#host.watches.watch(this, filter, {
      includeCtx,
      lifecycle: this.#lifecycle,
      fromOffset,
    });
    this.#subscriptions.add(id);
    return { subscription_id: id, ...result };
  }

  // ---- WatchSink

  backlog(): Promise<void> | undefined {
    return this.#closing ? undefined : this.#queue.room();
  }

  deliver(subscriptionId: string, change: Change, includeCtx: boolean): boolean {
    if (this.#closing || this.#queue.pendingBytes > this.#host.outboundLimitBytes) return false;
    const payload = encoded(eventMessage(subscriptionId, change, includeCtx));
    if (payload.length > MAX_FRAME_BYTES) return false;
    this.#send(payload, FrameFlag.CrcPresent | FrameFlag.Stream);
    return true;
  }

  lost(subscriptionId: string, resumeFromOffset: number): void {
    this.#subscriptions.delete(subscriptionId);
    this.#send(
      encoded(endMessage(subscriptionId, resumeFromOffset)),
      FrameFlag.CrcPresent | FrameFlag.Stream | FrameFlag.EndStream,
    );
  }

  // ---- output

  #reply(id: RcpRequest["id"], outcome: Result | SmError) {
    let payload = encoded(
      outcome instanceof SmError ? errorResponse(id, outcome.toBody()) : okResponse(id, outcome),
    );
    if (payload.length > MAX_FRAME_BYTES) {
      // rstmdb sends it anyway, and its clients cannot read it (the frame limit is theirs too).
      payload = encoded(errorResponse(id, tooLarge(outcome, payload.length).toBody()));
    }
    this.#send(payload);
  }

  /** Queues a frame (or line); what is queued in one tick leaves in one write. */
  #send(payload: Uint8Array, flags: number = FrameFlag.CrcPresent) {
    const bytes = this.#outputMode === "jsonl" ? encodeLine(payload) : encodeFrame(payload, flags);
    // Answers and notices always go in; `deliver` bounds events itself.
    this.#queue.push(bytes, false);
    // A closing connection's last answer (BYE, a fatal error) is written before it closes.
    if (this.#closing) this.#close();
  }

  /** Closes once what is queued has been written. */
  #close() {
    this.#closing = true;
    this.#queue.drained().then(() => this.#transport.close());
  }
}

const encoded = (message: unknown) => encoder.encode(JSON.stringify(message));

/** `from_offset` 0 or absent: live only (rstmdb's Java client always sends 0). */
const replayFrom = (p: ParamReader) =>
  p.optInteger("from_offset", 0, Number.MAX_SAFE_INTEGER) || undefined;

function tooLarge(outcome: Result | SmError, bytes: number): SmError {
  const what = outcome instanceof SmError ? "the error" : "the operation succeeded, but its result";
  return badRequest(
    `${what} is ${bytes} bytes, over the ${MAX_FRAME_BYTES}-byte frame limit, so it is not ` +
      "sent: keep instance contexts smaller (read the instance with GET_INSTANCE to check)",
    { result_bytes: bytes, succeeded: !(outcome instanceof SmError) },
  );
}
