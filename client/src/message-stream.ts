import { CatbusError, ErrorCode } from "../shared/errors.ts";
import { type Deferred, deferred } from "./deferred.ts";
import type { MessageHandler, MessageMeta, SubscribeOptions } from "./subscriptions.ts";

/** One message, as `for await` over a subscription and the React hooks give it. */
export interface ReceivedMessage<T = unknown> {
  channel: string;
  payload: T;
  meta: MessageMeta;
}

export interface StreamOptions extends SubscribeOptions {
  /**
   * Messages held for a loop that has not asked for them yet (default 1000). One more ends the
   * stream with `slow_consumer`: a loop that falls that far behind should catch up from history.
   */
  bufferSize?: number;
}

/** A subscription read with `for await`; leaving the loop (or `signal`) unsubscribes. */
export interface MessageStream<T = unknown> extends AsyncIterable<ReceivedMessage<T>> {
  /** Resolves once the server confirmed the subscription; rejects if it was refused. */
  readonly ready: Promise<void>;
  unsubscribe(): Promise<void>;
}

type Subscribe = (
  handler: MessageHandler,
  options: SubscribeOptions,
) => Promise<{ unsubscribe(): Promise<void> }>;

/** Turns callback delivery into an async iterator with a bounded buffer. */
export function messageStream<T>(subscribe: Subscribe, options: StreamOptions): MessageStream<T> {
  const { bufferSize = 1000, ...subscribeOptions } = options;
  const buffered: ReceivedMessage<T>[] = [];
  const waiting: Deferred<IteratorResult<ReceivedMessage<T>>>[] = [];
  let ended = false;
  let failure: unknown;

  const end = (error?: unknown) => {
    if (ended) return;
    ended = true;
    failure = error;
    for (const w of waiting.splice(0)) {
      if (error === undefined) w.resolve({ done: true, value: undefined });
      else w.reject(error);
    }
  };
  const subscription = subscribe((channel, payload, meta) => {
    if (ended) return;
    const message = { channel, payload: payload as T, meta };
    const waiter = waiting.shift();
    if (waiter) return waiter.resolve({ done: false, value: message });
    if (buffered.length >= bufferSize) {
      end(
        new CatbusError(
          ErrorCode.SlowConsumer,
          `the loop reading "${meta.channel}" fell ${bufferSize} messages behind (bufferSize); ` +
            "read faster or resubscribe from history",
        ),
      );
      return void unsubscribe();
    }
    buffered.push(message);
  }, {
    ...subscribeOptions,
    onError: (error) => {
      subscribeOptions.onError?.(error);
      end(error);
    },
  });
  subscription.catch(end);
  const unsubscribe = async () => {
    end();
    await (await subscription.catch(() => undefined))?.unsubscribe();
  };
  options.signal?.addEventListener("abort", () => unsubscribe(), { once: true });
  return {
    ready: subscription.then(() => {}),
    unsubscribe,
    [Symbol.asyncIterator]: () => ({
      next(): Promise<IteratorResult<ReceivedMessage<T>>> {
        const message = buffered.shift();
        if (message) return Promise.resolve({ done: false, value: message });
        if (ended) {
          return failure === undefined
            ? Promise.resolve({ done: true, value: undefined })
            : Promise.reject(failure);
        }
        const next = deferred<IteratorResult<ReceivedMessage<T>>>();
        waiting.push(next);
        return next.promise;
      },
      // Leaving the loop does not wait for the server to confirm the unsubscribe.
      return(): Promise<IteratorResult<ReceivedMessage<T>>> {
        unsubscribe();
        return Promise.resolve({ done: true, value: undefined });
      },
    }),
  };
}
