import type { Change } from "../change.ts";
import type { Result, StateMachineEngine } from "../engine.ts";
import { badRequest, SmError, SmErrorCode, toSmError } from "../errors.ts";
import { ParamReader } from "../params.ts";
import { concat } from "../../core/bytes.ts";
import { encodeFrame, FrameDecoder, FrameFlag, PROTOCOL_VERSION } from "./frame.ts";
import { encodeLine, LineDecoder } from "./jsonl.ts";
import {
  errorResponse,
  eventMessage,
  lostMessage,
  okResponse,
  parseRequest,
  type RcpRequest,
} from "./messages.ts";
import { type AuthThrottle, limited } from "./auth-throttle.ts";
import { DATA_OPS } from "./ops.ts";
import type { TokenVerifier } from "./token-hashes.ts";
import type { WatchFilter, WatchHub, WatchSink } from "./watch-hub.ts";

export type WireMode = "binary_json" | "jsonl";
const WIRE_MODES: WireMode[] = ["binary_json", "jsonl"];
export const FEATURES = ["idempotency", "batch", "watch", "wal_read", "compaction"];
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

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
}

/** A byte stream to one client (TCP or TLS). */
export interface RcpTransport {
  /** The client's address (no port), for per-address limits. */
  readonly remote: string;
  write(bytes: Uint8Array): Promise<void>;
  close(): void;
}

/** Allowed before HELLO, and before AUTH when auth is required. */
const BEFORE_HELLO = new Set(["HELLO", "PING", "BYE"]);
const BEFORE_AUTH = new Set(["HELLO", "AUTH", "PING", "BYE"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * One RCP connection: decodes frames (or jsonl lines), enforces HELLO and AUTH, runs requests
 * (pipelined: answers go out as they complete, matched by id), and queues responses and watch
 * events into batched writes. Requests are handed to the engine synchronously in arrival
 * order, so a client's pipelined writes apply in the order it sent them.
 */
export class RcpSession implements WatchSink {
  readonly #host: RcpHost;
  readonly #transport: RcpTransport;
  /** Until the first byte: "RCPX" means binary frames, "{" means jsonl. */
  #mode: WireMode | undefined;
  readonly #frames = new FrameDecoder();
  readonly #lines = new LineDecoder();
  /** Set by HELLO: the wire mode after its answer. */
  #switchTo?: WireMode;
  #greeted = false;
  #authenticated = false;
  #authFailures = 0;
  readonly #subscriptions = new Set<string>();
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  #drained?: PromiseWithResolvers<void>;
  #closing = false;
  #closed = false;

  constructor(host: RcpHost, transport: RcpTransport) {
    this.#host = host;
    this.#transport = transport;
  }

  /** Whether the client has said HELLO. */
  get greeted(): boolean {
    return this.#greeted;
  }

  /** Feeds received bytes; the promise (when any) resolves once the outbound queue drains. */
  receive(chunk: Uint8Array): Promise<void> | void {
    if (this.#closing || !chunk.length) return;
    this.#mode ??= chunk[0] === 0x7b ? "jsonl" : "binary_json";
    if (this.#mode === "jsonl") this.#lines.push(chunk);
    else this.#frames.push(chunk);
    this.#drain();
    return this.backlog();
  }

  /** The transport is gone. */
  closed(): void {
    this.#closed = true;
    this.#closing = true;
    for (const id of this.#subscriptions) this.#host.watches.unwatch(id);
    this.#subscriptions.clear();
    this.#drained?.resolve();
  }

  #drain() {
    while (!this.#closing) {
      const mode = this.#mode;
      if (mode === "jsonl") {
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
      if (this.#mode !== mode) {
        // HELLO switched the wire mode: bytes already received belong to the new one.
        if (this.#mode === "jsonl") this.#lines.push(this.#frames.rest());
        else this.#frames.push(this.#lines.rest());
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
    const { id, op } = req;
    const data = DATA_OPS.get(op);
    const own = this.#connectionOps.get(op);
    if (!data && !own) {
      return this.#reply(
        id,
        badRequest(`unknown op ${JSON.stringify(op)}; INFO lists what this server supports`),
      );
    }
    if (!this.#greeted && !BEFORE_HELLO.has(op)) {
      return this.#reply(id, badRequest(`send HELLO before ${op}`));
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
    if (this.#switchTo) {
      this.#mode = this.#switchTo;
      this.#switchTo = undefined;
    }
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
    const mode = wanted.length
      ? wanted.find((m): m is WireMode => WIRE_MODES.includes(m as WireMode))
      : this.#mode!;
    if (!mode) {
      throw new SmError(
        SmErrorCode.UnsupportedProtocol,
        `none of the wire_modes ${JSON.stringify(wanted)} is supported; use binary_json or jsonl`,
      );
    }
    const asked = p.stringList("features");
    this.#greeted = true;
    // The answer goes out in the current mode; the switch applies to what follows it.
    this.#switchTo = mode;
    return {
      protocol_version: PROTOCOL_VERSION,
      wire_mode: mode,
      server_name: this.#host.serverName,
      server_version: this.#host.serverVersion,
      features: asked.length ? FEATURES.filter((f) => asked.includes(f)) : FEATURES,
    };
  }

  #onAuth(p: ParamReader): Result {
    const method = p.optString("method") ?? "bearer";
    if (method !== "bearer") {
      throw badRequest(`AUTH method ${JSON.stringify(method)} is not supported; use "bearer"`);
    }
    const token = p.string("token");
    const throttle = this.#host.authThrottle;
    if (this.#authFailures >= throttle.maxFailures) {
      // Nothing more is read; the connection closes once the answer is written.
      this.#closing = true;
      throw limited("too many failed AUTH attempts on this connection; it is closed");
    }
    throttle.check(this.#transport.remote);
    if (!this.#host.auth.verify(token)) {
      this.#authFailures++;
      throttle.failed(this.#transport.remote);
      throw new SmError(
        SmErrorCode.AuthFailed,
        "the token is not valid; check it, or its hash in the server's configuration",
      );
    }
    this.#authenticated = true;
    return { authenticated: true };
  }

  #onWatchInstance(p: ParamReader): Result {
    const instanceId = p.string("instance_id");
    const includeCtx = p.bool("include_ctx", true);
    const fromOffset = p.optInteger("from_offset", 0, Number.MAX_SAFE_INTEGER);
    const instance = this.#host.engine.instance(instanceId);
    if (!instance) {
      throw new SmError(
        SmErrorCode.InstanceNotFound,
        `instance ${instanceId} does not exist (or was deleted)`,
      );
    }
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
    const fromOffset = p.optInteger("from_offset", 0, Number.MAX_SAFE_INTEGER);
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
    const id = this.#host.watches.watch(this, filter, includeCtx, fromOffset);
    this.#subscriptions.add(id);
    return { subscription_id: id, ...result };
  }

  // ---- WatchSink

  backlog(): Promise<void> | undefined {
    if (this.#closing || this.#queuedBytes <= this.#host.outboundLimitBytes) return undefined;
    this.#drained ??= Promise.withResolvers();
    return this.#drained.promise;
  }

  deliver(subscriptionId: string, change: Change, includeCtx: boolean): boolean {
    if (this.#closing || this.#queuedBytes > this.#host.outboundLimitBytes) return false;
    this.#send(
      eventMessage(subscriptionId, change, includeCtx),
      FrameFlag.CrcPresent | FrameFlag.Stream,
    );
    return true;
  }

  lost(subscriptionId: string, resumeFromOffset: number): void {
    this.#subscriptions.delete(subscriptionId);
    this.#send(
      lostMessage(subscriptionId, resumeFromOffset),
      FrameFlag.CrcPresent | FrameFlag.Stream | FrameFlag.EndStream,
    );
  }

  // ---- output

  #reply(id: RcpRequest["id"], outcome: Result | SmError) {
    this.#send(
      outcome instanceof SmError ? errorResponse(id, outcome.toBody()) : okResponse(id, outcome),
    );
  }

  #send(message: unknown, flags: number = FrameFlag.CrcPresent) {
    if (this.#closed) return;
    const payload = encoder.encode(JSON.stringify(message));
    const bytes = this.#mode === "jsonl" ? encodeLine(payload) : encodeFrame(payload, flags);
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    if (!this.#writing) this.#flush();
  }

  /** Writes everything queued in one write per round; replies queued meanwhile join the next. */
  async #flush() {
    this.#writing = true;
    // Let the replies of one read (and their events) gather before the first write.
    await Promise.resolve();
    try {
      while (this.#queue.length && !this.#closed) {
        const batch = this.#queue.length === 1 ? this.#queue[0] : concat(this.#queue);
        this.#queue = [];
        this.#queuedBytes = 0;
        await this.#transport.write(batch);
        if (this.#drained) {
          this.#drained.resolve();
          this.#drained = undefined;
        }
      }
    } catch {
      this.#transport.close();
    }
    this.#writing = false;
    if (this.#closing && !this.#closed) this.#transport.close();
  }

  /** Closes once what is queued has been written. */
  #close() {
    this.#closing = true;
    if (!this.#writing && !this.#queue.length) this.#transport.close();
  }
}
