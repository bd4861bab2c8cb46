import { concat } from "../../client/shared/bytes.ts";
import { ConnWriter } from "./conn-writer.ts";
import { ChunkedDecoder } from "./http-chunked.ts";
import {
  findHeadEnd,
  type HeadLimits,
  isHeadError,
  leadingBlankLines,
  parseRequestHead,
  type RequestHead,
} from "./http-head.ts";
import { type Answer, encodeHead, plainAnswer, writeResponse } from "./http-response.ts";
import { ReadBuffer } from "./read-buffer.ts";
import { type HttpRequest, IncomingRequest } from "./http-request.ts";

/** The limits every HTTP door applies to its connections (settings in src/server/settings.ts). */
export interface HttpLimits extends HeadLimits {
  /** From accepting a connection, or from a request's first byte, to the end of its headers. */
  headerTimeoutMs: number;
  /** How long a connection may stay open with no request, and a request body silent. */
  idleTimeoutMs: number;
  /** The largest WebSocket message a client may send (1009 past it). */
  maxWebSocketMessageBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  maxHeaderBytes: 32 * 1024,
  maxHeaders: 100,
  maxWebSocketMessageBytes: 64 * 1024 * 1024,
};

/** What a handler learns of a request besides the request itself. */
export interface RequestInfo {
  remoteAddr: Deno.NetAddr;
}

/** A connection handed over after its 101 answer: bytes in, bytes out. */
export interface UpgradedConnection {
  writer: ConnWriter;
  close(): void;
}

/** What takes over an upgraded connection: told each chunk read and the end. */
export interface UpgradeReceiver {
  /** A promise pauses reading until it settles (the receiver cannot take more yet). */
  receive(bytes: Uint8Array): Promise<void> | void;
  ended(): void;
}

/** An upgrade a handler asked for: the connection is handed over once `response` is sent. */
export interface Upgrade {
  response: Response;
  adopt(connection: UpgradedConnection): UpgradeReceiver;
}

/** Where a request that asked for an upgrade may offer to take its connection over. */
export interface UpgradeOffer {
  offer(upgrade: Upgrade): void;
  maxMessageBytes: number;
}

/** Requests that asked for an upgrade (one offer each). */
export const upgradeOffers = new WeakMap<HttpRequest, UpgradeOffer>();

export interface ConnectionHandler {
  scheme: "http" | "https";
  /** The host of requests without one (HTTP/1.0). */
  hostname: string;
  limits: HttpLimits;
  /** The handler takes IncomingRequests as they are (else each is made a WHATWG Request). */
  lean: boolean;
  /** The door is shutting down: no connection carries another request. */
  readonly stopping: boolean;
  /** Answers a request; a failed answer is the handler's to turn into a response. */
  answer(request: HttpRequest, info: RequestInfo, keep: () => () => void): Promise<Answer>;
  /** The connection closed (called once). */
  ended(connection: HttpConnection): void;
}

/** A body the handler left unread is read and dropped up to this size; past it, the connection closes. */
const DISCARD_LIMIT = 1024 * 1024;
const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");
const EMPTY = new Uint8Array(0);
const BODYLESS = new Set(["GET", "HEAD"]);

type State = "head" | "body" | "busy" | "upgraded" | "closed";

/** A request body on its way in: the stream the handler reads, or dropped once it is answered. */
interface Body {
  controller?: ReadableStreamDefaultController<Uint8Array>;
  /** Bytes left of a Content-Length body. */
  remaining: number;
  chunked?: ChunkedDecoder;
  discarded: number;
  /** The handler read no further than this: drop the rest. */
  discard: boolean;
}

/**
 * One HTTP/1.1 connection: requests one after another (pipelined ones wait their turn), bodies
 * by Content-Length or chunked, keep-alive, and upgrades. `deadline` is when the owner closes it
 * for silence (see HttpLimits); Infinity while the server, not the client, has the next move.
 */
export class HttpConnection {
  deadline: number;
  readonly #conn: Deno.Conn;
  readonly #handler: ConnectionHandler;
  readonly #release: () => void;
  readonly writer: ConnWriter;
  #state: State = "head";
  /** Bytes read and not yet used (a partial head, a pipelined request). */
  #pending: Uint8Array = EMPTY;
  #scanFrom = 0;
  /** Waiting for the first byte of a next request (the idle timeout applies). */
  #idle = false;
  #body?: Body;
  #resume?: () => void;
  /** Reused, and shared with other connections during bursts: what is kept is copied out. */
  readonly #buffer = new ReadBuffer();
  #upgrade?: Upgrade;
  #upgraded?: UpgradeReceiver;
  /** The response to the current request is written (its body may still be coming in). */
  #answered = false;
  /** Aborts the current request's signal when the client goes before its answer (a long-poll). */
  #aborter?: AbortController;
  /** Made when a streamed response asks (most connections never do). */
  #closedSignal?: PromiseWithResolvers<void>;

  constructor(conn: Deno.Conn, handler: ConnectionHandler, release: () => void) {
    this.#conn = conn;
    this.#handler = handler;
    this.#release = release;
    this.deadline = Date.now() + handler.limits.headerTimeoutMs;
    this.writer = new ConnWriter(conn, this);
    this.#readNext();
  }

  /** No request in progress: shutting down may close it at once. */
  get idle(): boolean {
    return this.#state === "head";
  }

  get closed(): boolean {
    return this.#state === ("closed" as State);
  }

  close(): void {
    if (this.closed) return;
    const upgraded = this.#upgraded;
    this.#state = "closed";
    this.deadline = Infinity;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#aborter?.abort(new Error("the connection closed"));
    try {
      this.#body?.controller?.error(new Error("the connection closed"));
    } catch { /* the stream was done */ }
    this.#body = undefined;
    this.#resume?.();
    this.#closedSignal?.resolve();
    this.#release();
    this.#handler.ended(this);
    upgraded?.ended();
  }

  /** Resolves once the connection closed. */
  #closed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return (this.#closedSignal ??= Promise.withResolvers()).promise;
  }

  /**
   * Reads the next chunk. A chain of callbacks rather than an async loop: a suspended async
   * function keeps its frame and promises, a few hundred bytes on every idle connection.
   */
  #readNext() {
    if (this.closed) return this.#readsEnded();
    const resume = this.#resume;
    if (resume) {
      this.#resume = () => {
        resume();
        queueMicrotask(() => this.#readNext());
      };
      return;
    }
    this.#conn.read(this.#buffer.next).then(this.#onRead, this.#onRead);
  }

  /**
   * Hears both ends of a read (one closure per connection, not two): bytes read, or the end —
   * null, or an error (reset by the peer, or closed by us).
   */
  readonly #onRead = (n: unknown) => {
    if (typeof n !== "number" || this.closed) return this.#readsEnded();
    try {
      this.#received(this.#buffer.next.subarray(0, n));
      this.#buffer.read(n);
    } catch {
      return this.#readsEnded();
    }
    this.#readNext();
  };

  #readsEnded() {
    this.#buffer.release();
    this.close();
  }

  /** Stops reading until `resume()`: the body reader is full, or pipelined requests pile up. */
  #pause() {
    this.#resume ??= () => this.#resume = undefined;
  }

  #pauseFor(until: Promise<void> | void) {
    if (!until) return;
    this.#pause();
    until.then(() => this.#resume?.());
  }

  #received(bytes: Uint8Array) {
    switch (this.#state) {
      case "head":
        this.#pending = this.#pending.length ? concat([this.#pending, bytes]) : bytes.slice();
        if (this.#idle) {
          this.#idle = false;
          this.deadline = Date.now() + this.#handler.limits.headerTimeoutMs;
        }
        this.#nextRequest();
        return;
      case "body":
        this.#bodyBytes(bytes, true);
        return;
      case "busy":
        this.#pending = this.#pending.length ? concat([this.#pending, bytes]) : bytes.slice();
        if (this.#pending.length > this.#handler.limits.maxHeaderBytes) this.#pause();
        return;
      case "upgraded":
        return this.#pauseFor(this.#upgraded!.receive(bytes));
    }
  }

  /** Parses the next request from the bytes read so far, if its head is all there. */
  #nextRequest() {
    const skip = leadingBlankLines(this.#pending);
    if (skip) this.#pending = this.#pending.subarray(skip);
    const { limits } = this.#handler;
    const end = findHeadEnd(this.#pending, this.#scanFrom);
    if (end < 0) {
      if (this.#pending.length > limits.maxHeaderBytes) {
        return this.#refuse(
          431,
          "too_large",
          `the request head is over ${limits.maxHeaderBytes} bytes`,
        );
      }
      this.#scanFrom = Math.max(0, this.#pending.length - 3);
      return;
    }
    const head = parseRequestHead(this.#pending.subarray(0, end), limits);
    this.#pending = this.#pending.subarray(end);
    this.#scanFrom = 0;
    if (isHeadError(head)) {
      return this.#refuse(
        head.status,
        head.status === 431 ? "too_large" : "bad_request",
        head.message,
      );
    }
    if (!head.upgrade) this.#buffer.expect(end + Math.max(0, head.bodyLength));
    this.#serve(head);
  }

  /** Answers a request the server cannot take, then closes the connection. */
  #refuse(status: number, code: string, message: string) {
    this.#state = "busy";
    this.deadline = Infinity;
    this.writer.write(plainAnswer(status, code, message));
    this.writer.drained().then(() => this.close());
  }

  #serve(head: RequestHead) {
    const { scheme, limits } = this.#handler;
    const hasBody = head.bodyLength !== 0;
    let request: HttpRequest;
    let body: Body | undefined;
    try {
      const host = head.host ?? this.#handler.hostname;
      const url = head.target[0] === "/"
        ? `${scheme}://${host}${head.target}`
        : head.target === "*"
        ? `${scheme}://${host}/`
        : head.target;
      let requestBody: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | undefined;
      if (hasBody && head.bodyLength > 0 && this.#pending.length >= head.bodyLength) {
        // The whole body came with the head (a small POST): handed over as bytes, no stream.
        requestBody = BODYLESS.has(head.method)
          ? undefined
          : this.#pending.subarray(0, head.bodyLength) as Uint8Array<ArrayBuffer>;
        this.#pending = this.#pending.subarray(head.bodyLength);
      } else if (hasBody) {
        body = {
          remaining: head.bodyLength,
          chunked: head.bodyLength < 0 ? new ChunkedDecoder(limits.maxHeaderBytes) : undefined,
          discarded: 0,
          discard: BODYLESS.has(head.method),
        };
        if (!body.discard) requestBody = this.#bodyStream(body, head.expectContinue);
      }
      this.#aborter = new AbortController();
      const incoming = new IncomingRequest(url, {
        method: head.method,
        headers: head.headers,
        body: requestBody,
        signal: this.#aborter.signal,
      });
      request = this.#handler.lean ? incoming : incoming.toRequest();
    } catch (e) {
      return this.#refuse(400, "bad_request", (e as Error).message);
    }
    this.#body = body;
    this.#state = body ? "body" : "busy";
    this.deadline = body ? Date.now() + limits.idleTimeoutMs : Infinity;
    if (body && this.#pending.length) {
      const pending = this.#pending;
      this.#pending = EMPTY;
      this.#bodyBytes(pending, false);
      if (this.closed) return;
    }
    if (head.upgrade) {
      upgradeOffers.set(request, {
        offer: (upgrade) => this.#upgrade = upgrade,
        maxMessageBytes: limits.maxWebSocketMessageBytes,
      });
    }
    void this.#respond(request, head);
  }

  #bodyStream(body: Body, expectContinue: boolean): ReadableStream<Uint8Array> {
    let continued = !expectContinue;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        body.controller = controller;
      },
      pull: () => {
        if (!continued) {
          continued = true;
          this.writer.write(CONTINUE);
        }
        this.#resume?.();
      },
      cancel: () => {
        body.discard = true;
        body.controller = undefined;
        this.#resume?.();
      },
    }, { highWaterMark: 0 });
  }

  /** Body bytes read: handed to the request's stream (or dropped); what follows is kept. */
  #bodyBytes(bytes: Uint8Array, copy: boolean) {
    const body = this.#body!;
    this.deadline = Date.now() + this.#handler.limits.idleTimeoutMs;
    const take = (piece: Uint8Array) => {
      if (body.discard) {
        body.discarded += piece.length;
      } else {
        body.controller!.enqueue(copy ? piece.slice() : piece);
      }
    };
    let used: number;
    let done: boolean;
    if (body.chunked) {
      const result = body.chunked.feed(bytes, take);
      if (typeof result === "string") {
        // The handler may be answering already: no second answer, the connection just ends.
        body.controller?.error(new TypeError(`malformed chunked body: ${result}`));
        body.controller = undefined;
        return this.close();
      }
      used = result;
      done = body.chunked.done;
    } else {
      used = Math.min(body.remaining, bytes.length);
      take(bytes.subarray(0, used));
      done = (body.remaining -= used) === 0;
    }
    if (used < bytes.length) {
      const rest = bytes.subarray(used);
      this.#pending = this.#pending.length
        ? concat([this.#pending, rest])
        : copy
        ? rest.slice()
        : rest;
    }
    if (done) {
      body.controller?.close();
      this.#body = undefined;
      if (this.#state === "body") this.#state = "busy";
      this.deadline = Infinity;
      // The response may be out already: on to the next request.
      if (body.discard && this.#answered) this.#next();
      return;
    }
    if (body.discarded > DISCARD_LIMIT) return this.close();
    if (!body.discard && (body.controller?.desiredSize ?? 1) <= 0) this.#pause();
  }

  async #respond(request: HttpRequest, head: RequestHead) {
    // The slot is the connection's: whoever keeps it may give it back early (idempotent).
    const keep = () => this.#release;
    this.#answered = false;
    const response = await this.#handler.answer(
      request,
      { remoteAddr: this.#conn.remoteAddr as Deno.NetAddr },
      keep,
    );
    if (this.closed) return;
    const upgrade = this.#upgrade;
    this.#upgrade = undefined;
    if (upgrade && upgrade.response === response) {
      this.#aborter = undefined;
      this.writer.write(encodeHead(101, response.headers, "connection: Upgrade\r\n"));
      this.#state = "upgraded";
      this.deadline = Infinity;
      this.#upgraded = upgrade.adopt(this);
      const pending = this.#pending;
      this.#pending = EMPTY;
      if (pending.length) this.#pauseFor(this.#upgraded.receive(pending));
      return;
    }
    const keepAlive = await writeResponse(response, {
      writer: this.writer,
      minor: head.minor,
      head: head.method === "HEAD",
      keepAlive: head.keepAlive && !this.#handler.stopping,
      closed: this.#closed(),
    }).catch(() => false);
    if (this.closed) return;
    this.#aborter = undefined;
    if (!keepAlive || this.#handler.stopping) {
      await this.writer.drained();
      return this.close();
    }
    this.#answered = true;
    const body = this.#body;
    if (body) {
      // The handler answered without reading the whole body: read it to its end and drop it.
      body.discard = true;
      body.controller?.error(new Error("the response was sent before the body was read"));
      body.controller = undefined;
      this.#resume?.();
      return;
    }
    this.#next();
  }

  /** Back to waiting for a request: the idle timeout runs until its first byte. */
  #next() {
    this.#state = "head";
    this.#answered = false;
    this.#idle = this.#pending.length === 0;
    this.deadline = Date.now() +
      (this.#idle ? this.#handler.limits.idleTimeoutMs : this.#handler.limits.headerTimeoutMs);
    this.#resume?.();
    if (this.#pending.length) this.#nextRequest();
  }
}
