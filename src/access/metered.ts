import type { DoorMeter } from "../core/meter.ts";
import type { ReplyHolders } from "../core/replies.ts";
import { namespaceOf } from "../../client/shared/subject.ts";

/**
 * One door's view of the shared reply permits whose holders also count that door's traffic:
 * every delivery of every door passes through its holder (`delivered`), and the access layer
 * reads the holder's `meter` for publishes, replays and drops. So the server meters a door by
 * what it hands the door at registration, and no door counts anything itself.
 */
export function meteredReplies(permits: ReplyHolders, meter: DoorMeter): ReplyHolders {
  // A fan-out hands one message to every subscriber in turn: its namespace is cut from the
  // channel once, not once per delivery (the channel is then the same string).
  let lastChannel = "", lastNamespace = "";
  const namespaceOfChannel = (channel: string) =>
    channel === lastChannel ? lastNamespace : (lastNamespace = namespaceOf(lastChannel = channel));
  return {
    holder(name) {
      const holder = permits.holder(name);
      return {
        take: holder.take,
        meter,
        delivered(message) {
          meter.delivered(namespaceOfChannel(message.channel), message.payload.length);
          holder.delivered(message);
        },
      };
    },
  };
}
