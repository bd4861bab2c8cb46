import type { BusMessage } from "./message.ts";

/**
 * The other nodes of a cluster, as the broker needs them: what they subscribe to, and a way to
 * hand them what is not in the shared stream engine (replies, acks). Implemented on the engine's
 * node channels (streams/node-relay.ts); a single node has none.
 */
export interface Peers {
  /** Another node has a client subscription that `channel` matches (its request has responders). */
  responds(channel: string): boolean;
  /**
   * This node's client subscriptions of `pattern` went from none to some (`on`) or back; the
   * promise (if any) settles once the other nodes can learn of it.
   */
  interest(pattern: string, on: boolean): Promise<void> | void;
  /** A reply (a message of an unstored reply namespace) was published here: peers get it too. */
  forward(message: BusMessage): void;
  /** A durable consumer of this node acked `namespace` #`seq`: confirmations elsewhere count it. */
  acked(namespace: string, seq: number): void;
  /** A publish of this node waits for acks of `namespace` messages (`on`), or no longer. */
  confirming(namespace: string, on: boolean): void;
}
