import { type Principal, requireGrant } from "../auth/grants.ts";
import type { Subscriber } from "../core/broker.ts";
import type { BusMessage } from "../core/message.ts";
import type { ReplyHolder } from "../core/replies.ts";
import { namespaceOf, parsePattern } from "../../client/shared/subject.ts";

/** May `principal` subscribe to `pattern`? A valid pattern covered by a read grant. */
export function authorizeSubscribe(principal: Principal, pattern: string): void {
  parsePattern(pattern);
  requireGrant(principal, "read", pattern);
}

/** Where a door writes one subscription's replay. */
export interface ReplaySink {
  send(message: BusMessage): void;
  /** A promise while the connection cannot take more, else undefined. */
  ready(): Promise<void> | undefined;
  /** The connection has ended: the replay stops. */
  gone(): boolean;
}

/**
 * The subscriber that takes a subscription's replay. Replayed messages are answers the client
 * asked for: they bypass the drop policy, and the broker stops reading while the connection is
 * full (`ready`), so its queue stays bounded. A replayed request may be answered (reply permit).
 */
export function replaySubscriber(sink: ReplaySink, replies: ReplyHolder): Subscriber {
  return {
    deliver: (m) => {
      sink.send(m);
      replies.meter?.replayed(namespaceOf(m.channel), m.payload.length);
      replies.delivered(m);
    },
    ready: () => sink.ready(),
    gone: () => sink.gone(),
  };
}
