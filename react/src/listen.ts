import {
  CatbusError,
  ErrorCode,
  type MessageHandler,
  type SubscribeOptions,
  type Subscription,
} from "../../client/mod.ts";

/** The callback form of `CatbusClient.subscribe`, all `listen` needs. */
export interface CallbackSubscriber {
  subscribe(pattern: string, handler: MessageHandler, options?: SubscribeOptions): Promise<
    Subscription
  >;
}

export interface ListenHandlers {
  onMessage: MessageHandler;
  onError(error: Error): void;
  /**
   * The server confirmed the subscription: when `subscribe` resolved and again after every
   * resubscribe (reconnect, gap). A subscribe made offline resolves at once, so only the
   * resubscribe on connect is the server's word.
   */
  onSubscribed?(): void;
}

/**
 * Subscribes to `pattern` and returns a function that ends the subscription. It may be called
 * before `subscribe` resolved (the subscription is ended once it exists), and no handler runs
 * after it — what an effect cleanup needs, including React StrictMode's immediate cleanup.
 */
export function listen(
  client: CallbackSubscriber,
  pattern: string,
  handlers: ListenHandlers,
  options: Pick<SubscribeOptions, "presence" | "onPresence"> = {},
): () => void {
  let active = true;
  const attempt = (): Promise<Subscription | undefined> =>
    client.subscribe(pattern, (channel, payload, meta) => {
      if (active) handlers.onMessage(channel, payload, meta);
    }, {
      ...options,
      onError: (error) => {
        if (active) handlers.onError(error);
      },
      onRecovery: () => {
        if (active) handlers.onSubscribed?.();
      },
    }).then((subscription) => {
      if (active) handlers.onSubscribed?.();
      return subscription;
    }, (error: Error) => {
      if (!active) return undefined;
      // The connection dropped while the server was asked: the client forgot the subscription.
      // Asking again while disconnected queues it for the reconnect.
      if (
        error instanceof CatbusError && error.code === ErrorCode.Disconnected
      ) return attempt();
      handlers.onError(error);
      return undefined;
    });
  const subscription = attempt();
  return () => {
    active = false;
    subscription.then((s) => s?.unsubscribe());
  };
}
