import type { SessionTransport } from "../protocol/session.ts";
import { isCatbusError } from "../../client/shared/errors.ts";
import { Fifo } from "../core/fifo.ts";
import { randomId } from "../core/ids.ts";
import { base64 } from "../../client/shared/bytes.ts";
import { constantTimeEqual } from "../auth/crypto.ts";
import { SSE_SESSION_SECRET_HEADER } from "../../client/shared/messages.ts";
import { readBody } from "./http-body.ts";
import { sseFrame, SseStream } from "./sse.ts";
import type { StreamHandler } from "./tcp.ts";
import { wholeResponse } from "./http-response.ts";

export interface SseSessionOptions {
  /** Bytes kept for a reattaching stream; a stream that needs older ones cannot resume. */
  replayBytes: number;
  /** How long a session waits for its stream to come back. */
  graceMs: number;
  keepAliveMs: number;
  /** Largest POST body accepted. */
  maxBodyBytes: number;
}

const text = (status: number, message: string) =>
  wholeResponse(message + "\n", {
    status,
    headers: { "content-type": "text/plain" },
  });

/** Unknown session and wrong secret look the same: an id alone tells nothing. */
const noSession = () =>
  text(
    404,
    `no such session (or a wrong ${SSE_SESSION_SECRET_HEADER} header); open one with GET /sse`,
  );

/**
 * One native session carried by an event stream (down) and POSTs (up). Its id names it; its
 * secret (given once, in the first event) is what lets a request act on it.
 */
class SseSession {
  readonly id = randomId(24);
  readonly secret = randomId(32);
  readonly handler: StreamHandler;
  readonly #options: SseSessionOptions;
  readonly #sessions: Map<string, SseSession>;
  /** Recent downstream events, for reattaching with Last-Event-ID. */
  /** What was sent and may be asked again, oldest first (many small frames: not an Array). */
  readonly #sent = new Fifo<{ id: number; frame: Uint8Array }>();
  #sentBytes = 0;
  #nextId = 1;
  #stream?: SseStream;
  #grace?: ReturnType<typeof setTimeout>;
  #closed = false;

  constructor(
    options: SseSessionOptions,
    sessions: Map<string, SseSession>,
    remote: string,
    accept: (t: SessionTransport) => StreamHandler,
  ) {
    this.#options = options;
    this.#sessions = sessions;
    this.handler = accept({
      remote: `sse:${remote}`,
      write: (batch) => this.#write(batch),
      close: () => this.close(),
    });
  }

  /** A new event stream for this session, replaying what came after `lastId`. */
  attach(lastId: number | undefined): Response {
    const stream = this.#open();
    if (lastId === undefined) {
      stream.send(
        sseFrame({
          event: "session",
          data: JSON.stringify({ id: this.id, secret: this.secret }),
        }),
      );
    } else {
      const first = this.#sent.first()?.id ?? this.#nextId;
      if (lastId + 1 < first) {
        stream.send(
          sseFrame({
            event: "error",
            data: "too far behind to resume; reconnect",
          }),
        );
        stream.close();
        this.close();
        return stream.response;
      }
      for (const e of this.#sent) if (e.id > lastId) stream.send(e.frame);
    }
    return stream.response;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#grace);
    this.#sessions.delete(this.id);
    this.#stream?.close();
    this.handler.connectionEnded();
  }

  #open(): SseStream {
    this.#stream?.close();
    clearTimeout(this.#grace);
    const stream: SseStream = new SseStream({
      highWaterBytes: this.#options.replayBytes / 2,
      keepAliveMs: this.#options.keepAliveMs,
      onClose: () => {
        if (this.#stream !== stream) return;
        this.#stream = undefined;
        if (!this.#closed) {
          this.#grace = setTimeout(() => this.close(), this.#options.graceMs);
        }
      },
    });
    this.#stream = stream;
    return stream;
  }

  #write(batch: Uint8Array): Promise<void> | void {
    if (this.#closed) throw new Error("session closed");
    const id = this.#nextId++;
    const frame = sseFrame({ id: String(id), data: base64(batch) });
    this.#sent.push({ id, frame });
    this.#sentBytes += frame.length;
    while (
      this.#sentBytes > this.#options.replayBytes && this.#sent.length > 1
    ) {
      this.#sentBytes -= this.#sent.shift()!.frame.length;
    }
    const stream = this.#stream;
    if (!stream) return;
    stream.send(frame);
    if (stream.congested) return stream.ready();
  }
}

/**
 * The native protocol for networks that pass only plain HTTP: `GET /sse` opens a session (its
 * first event gives its id and secret), `POST /sse/<id>` carries frames up, `DELETE /sse/<id>`
 * ends it, and `GET /sse?session=<id>` with `Last-Event-ID` reattaches a dropped stream without
 * loss. All but the first need the secret in the `catbus-session-secret` header; a reattaching
 * GET may carry it as `&secret=` instead, for EventSource, which cannot send headers.
 */
export class SseSessions {
  readonly #sessions = new Map<string, SseSession>();
  readonly #options: SseSessionOptions;
  readonly #accept: (t: SessionTransport) => StreamHandler;

  constructor(
    options: SseSessionOptions,
    accept: (t: SessionTransport) => StreamHandler,
  ) {
    this.#options = options;
    this.#accept = accept;
  }

  async handle(request: Request, remote: string): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/sse" && request.method === "GET") {
      const id = url.searchParams.get("session");
      if (!id) {
        const session = new SseSession(
          this.#options,
          this.#sessions,
          remote,
          this.#accept,
        );
        this.#sessions.set(session.id, session);
        return session.attach(undefined);
      }
      const secret = request.headers.get(SSE_SESSION_SECRET_HEADER) ??
        url.searchParams.get("secret");
      const session = await this.#find(id, secret);
      if (!session) return noSession();
      const lastId = Number(request.headers.get("last-event-id") ?? "0");
      return session.attach(Number.isSafeInteger(lastId) ? lastId : 0);
    }
    const session = await this.#find(
      url.pathname.slice("/sse/".length),
      request.headers.get(SSE_SESSION_SECRET_HEADER),
    );
    if (!session) return noSession();
    if (request.method === "DELETE") {
      session.close();
      return wholeResponse(null, { status: 204 });
    }
    if (request.method !== "POST") {
      return text(405, "use GET /sse, POST or DELETE /sse/<id>");
    }
    try {
      // Answered once the session can take more: the client's next POST waits for it.
      await session.handler.receive(
        await readBody(request, this.#options.maxBodyBytes),
      );
    } catch (e) {
      if (isCatbusError(e)) return text(413, e.message);
      throw e;
    }
    return wholeResponse(null, { status: 204 });
  }

  /** The session named `id`, if `secret` is its secret. */
  async #find(id: string, secret: string | null): Promise<SseSession | undefined> {
    const session = this.#sessions.get(id);
    if (!session || secret === null) return undefined;
    return await constantTimeEqual(secret, session.secret) ? session : undefined;
  }

  closeAll(): void {
    for (const session of [...this.#sessions.values()]) session.close();
  }
}
