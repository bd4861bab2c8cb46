import { CatbusError, ErrorCode } from "../shared/errors.ts";
import { isReplySubject, REPLY_TO_HEADER } from "../shared/reply-subjects.ts";
import { deferred } from "./deferred.ts";
import type { PublishOptions } from "./publish.ts";

export interface RequestOptions extends PublishOptions {
  /** Reject with `timeout` after this many ms (default 5000). */
  timeout?: number;
  /** Rejects the request with the signal's reason when aborted. */
  signal?: AbortSignal;
}

/** One awaited reply: where the responder should publish it, and the reply itself. */
export interface AwaitedReply {
  replyTo: string;
  /** The first reply's payload; rejects with `timeout` after the timeout. */
  reply: Promise<unknown>;
  /** Stops waiting (call once the request is over). */
  done(): void;
}

/**
 * A client's private reply inbox: one subscription to `_inbox.<clientId>.<random>.>`, made on
 * first use; each request gets its own channel below it. Reading one's own inbox needs no grant;
 * the server lets only the connections it delivered a request to publish its reply, once.
 */
export class ReplyInbox {
  readonly #subscribe: (
    pattern: string,
    handler: (channel: string, payload: unknown) => void,
  ) => Promise<unknown>;
  readonly #clientId: () => string | undefined;
  readonly #waiting = new Map<string, (payload: unknown) => void>();
  #prefix?: Promise<string>;
  #counter = 0;

  constructor(
    subscribe: (
      pattern: string,
      handler: (channel: string, payload: unknown) => void,
    ) => Promise<unknown>,
    clientId: () => string | undefined,
  ) {
    this.#subscribe = subscribe;
    this.#clientId = clientId;
  }

  /**
   * A new reply channel, waited on for `timeoutMs` (the message names `channel`), or until
   * `signal` aborts.
   */
  async expect(channel: string, timeoutMs: number, signal?: AbortSignal): Promise<AwaitedReply> {
    const replyTo = `${await this.#ready()}.${++this.#counter}`;
    const reply = deferred<unknown>();
    // The timeout may fire while the request is still being published (e.g. queued offline),
    // before anyone awaits the reply.
    reply.promise.catch(() => {});
    this.#waiting.set(replyTo, reply.resolve);
    const timer = setTimeout(
      () =>
        reply.reject(
          new CatbusError(
            ErrorCode.Timeout,
            `no reply on ${channel} within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    const onAbort = () => reply.reject(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    return {
      replyTo,
      reply: reply.promise,
      done: () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#waiting.delete(replyTo);
      },
    };
  }

  #ready(): Promise<string> {
    return this.#prefix ??= (async () => {
      const prefix = `_inbox.${this.#clientId()}.${Math.random().toString(36).slice(2, 10)}`;
      await this.#subscribe(
        `${prefix}.>`,
        (channel, payload) => this.#waiting.get(channel)?.(payload),
      );
      return prefix;
    })();
  }
}

/**
 * Where to answer a request: its `reply_to` header, which must be a reply inbox; throws
 * `bad_request` otherwise, so a caller cannot make the responder publish to a channel of its
 * choosing.
 */
export function replyTarget(headers?: Record<string, string>): string {
  const replyTo = headers?.[REPLY_TO_HEADER];
  if (!replyTo) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      "this message is not a request: no reply_to header",
    );
  }
  if (!isReplySubject(replyTo)) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `reply_to "${replyTo}" is not a reply inbox (_inbox.… or _bus_.…); not answered`,
    );
  }
  return replyTo;
}
