import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { BusMessage } from "../core/message.ts";
import { ACK_KINDS, type AckKind } from "../../client/shared/messages.ts";
import type { Consumer, ConsumerMember, Delivery } from "../streams/consumer.ts";

/** The settlement named by a client (`ack` when none); `field` is how the door spells it. */
export function parseAckKind(raw: unknown, field: string): AckKind {
  const kind = raw ?? "ack";
  if (!ACK_KINDS.includes(kind as AckKind)) {
    throw new CatbusError(ErrorCode.BadRequest, `${field} must be one of ${ACK_KINDS.join(", ")}`);
  }
  return kind as AckKind;
}

/** A connection's pace, as a consumer member sees it. */
export interface MemberPace {
  /** True while the connection holds as much as it should: no more deliveries for now. */
  congested(): boolean;
  /** Resolves when it has room again. */
  ready(): Promise<void>;
}

/**
 * A connection as a member of a consumer, in every door: deliveries are never dropped; the
 * consumer stops handing this member messages while the connection is congested and is woken
 * when it has room. Each delivery is reported to `delivered` (reply permits).
 */
export function pacedMember(
  consumer: Consumer,
  pace: MemberPace,
  send: (delivery: Delivery) => void,
  delivered: (message: BusMessage) => void,
): ConsumerMember {
  return {
    hasRoom: () => !pace.congested(),
    deliver: (d) => {
      send(d);
      delivered(d.message);
      if (pace.congested()) pace.ready().then(() => consumer.wake());
    },
  };
}
