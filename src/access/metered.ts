import type { DoorMeter } from "../core/meter.ts";
import type { BusMessage } from "../core/message.ts";
import type { ReplyHolder, ReplyHolders } from "../core/replies.ts";
import { namespaceOf } from "../../client/shared/subject.ts";

/**
 * One door's view of the shared reply permits whose holders also count that door's traffic:
 * every delivery of every door passes through its holder (`delivered`), and the access layer
 * reads the holder's `meter` for publishes, replays and drops. So the server meters a door by
 * what it hands the door at registration, and no door counts anything itself.
 */
export function meteredReplies(permits: ReplyHolders, meter: DoorMeter): ReplyHolders {
  const door = new MeteredDoor(meter);
  return { holder: (name) => new MeteredHolder(permits.holder(name), door) };
}

/** A door's meter, and the namespace of the last channel delivered through it. */
class MeteredDoor {
  // A fan-out hands one message to every subscriber in turn: its namespace is cut from the
  // channel once, not once per delivery (the channel is then the same string).
  #lastChannel = "";
  #lastNamespace = "";

  constructor(readonly meter: DoorMeter) {}

  namespaceOfChannel(channel: string): string {
    if (channel !== this.#lastChannel) {
      this.#lastNamespace = namespaceOf(channel);
      this.#lastChannel = channel;
    }
    return this.#lastNamespace;
  }
}

/** A holder whose deliveries are counted: an object with shared methods, kept per connection. */
class MeteredHolder implements ReplyHolder {
  readonly #holder: ReplyHolder;
  readonly #door: MeteredDoor;

  constructor(holder: ReplyHolder, door: MeteredDoor) {
    this.#holder = holder;
    this.#door = door;
  }

  get meter(): DoorMeter {
    return this.#door.meter;
  }

  delivered(message: BusMessage): void {
    this.#door.meter.delivered(
      this.#door.namespaceOfChannel(message.channel),
      message.payload.length,
    );
    this.#holder.delivered(message);
  }

  take(channel: string): boolean {
    return this.#holder.take(channel);
  }
}
