import { type Principal, requireGrant } from "../auth/grants.ts";
import type { Subscriber } from "../core/broker.ts";
import type { BusMessage } from "../core/message.ts";
import type { ReplyHolder } from "../core/replies.ts";
import type { StoredRecords } from "../core/stored-records.ts";
import { namespaceOf, parsePattern } from "../../client/shared/subject.ts";

/** May `principal` subscribe to `pattern`? A valid pattern covered by a read grant. */
export function authorizeSubscribe(principal: Principal, pattern: string): void {
  parsePattern(pattern);
  requireGrant(principal, "read", pattern);
}

/** Where a door writes one subscription's replay. */
export interface ReplaySink {
  send(message: BusMessage): void;
  /**
   * Writes the frames of `records`' picks `from…to` from their stored bytes while the connection
   * has room (at least one); returns the index after the last one written (see
   * Subscriber.deliverStored). A door without it is sent messages.
   */
  sendStored?(records: StoredRecords, picks: Int32Array, from: number, to: number): number;
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
    deliverStored: sink.sendStored &&
      ((records, picks, from, to) => {
        const end = sink.sendStored!(records, picks, from, to);
        const meter = replies.meter;
        const namespace = meter && namespaceOf(records.channel(picks[from]));
        for (let k = from; k < end; k++) {
          const i = picks[k];
          if (meter) meter.replayed(namespace!, records.payloadBytes(i));
          // Only a message with headers can be a request (its reply subject is a header); the
          // others need no message: they are counted as the metered holder's `delivered` would.
          if (records.hasHeaders(i)) replies.delivered(records.message(i));
          else if (meter) meter.delivered(namespace!, records.payloadBytes(i));
        }
        return end;
      }),
    ready: () => sink.ready(),
    gone: () => sink.gone(),
  };
}
