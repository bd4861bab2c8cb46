import { CatbusError, ErrorCode } from "../shared/errors.ts";
import { FrameType } from "../shared/frame.ts";
import type { SubscribedMeta } from "../shared/messages.ts";
import { parseChannel, parsePattern } from "../shared/subject.ts";
import {
  LocalSubscription,
  type MessageHandler,
  type MessageMeta,
  type PresenceEvent,
  type RecoveryInfo,
  type SubscribeOptions,
  SubscriptionRegistry,
} from "./subscriptions.ts";

export interface Subscription {
  readonly pattern: string;
  unsubscribe(): Promise<void>;
}

type Request = (type: number, meta: unknown) => Promise<Record<string, unknown>>;

/**
 * The client's subscriptions as the server knows them: subscribed when made (or on the next
 * connect), resubscribed with resume positions after every reconnect and gap, ended when the
 * server revokes them.
 */
export class Subscriber {
  readonly #subs = new SubscriptionRegistry();
  readonly #recoveryHandlers = new Set<(info: RecoveryInfo) => void>();
  readonly #request: Request;
  readonly #connected: () => boolean;

  constructor(request: Request, connected: () => boolean) {
    this.#request = request;
    this.#connected = connected;
  }

  /** Every resume outcome, for all subscriptions. */
  onRecovery(handler: (info: RecoveryInfo) => void): () => void {
    this.#recoveryHandlers.add(handler);
    return () => this.#recoveryHandlers.delete(handler);
  }

  /** Resolves once the server confirmed; while offline at once (it starts on connect). */
  async subscribe(
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
        if (this.#subs.remove(sub) && this.#connected()) {
          await this.#request(FrameType.Unsubscribe, { pattern }).catch(
            () => {},
          );
        }
      },
    };
    options.signal?.addEventListener("abort", () => subscription.unsubscribe(), { once: true });
    if (!this.#connected()) return subscription;
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

  /** Connected: every pattern is subscribed again, resuming where it left off. */
  restore(): void {
    for (const pattern of this.#subs.patterns()) this.#resubscribe(pattern);
  }

  /** The server dropped messages of `namespace` for this client: ask for them again. */
  gap(namespace: string): void {
    // The answer says whether history still had them.
    for (const pattern of this.#subs.patternsReaching(namespace)) {
      this.#resubscribe(pattern);
    }
  }

  /** The server ended the pattern's subscriptions (e.g. its grant was revoked). */
  end(pattern: string, error: CatbusError): void {
    for (const sub of this.#subs.of(pattern)) {
      this.#subs.remove(sub);
      sub.options.onError?.(error);
    }
  }

  /** Tells the channel's subscriptions that asked for joins and leaves. */
  presence(event: PresenceEvent): void {
    this.#subs.presence(event);
  }

  /** Routes a message to every matching subscription that has not seen it. */
  dispatch(meta: MessageMeta, payload: unknown, onHandlerError: (e: unknown) => void): void {
    this.#subs.dispatch(meta, payload, onHandlerError);
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
      this.end(pattern, e);
    }
  }
}
