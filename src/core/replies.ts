import { REPLY_TO_HEADER } from "../../client/shared/reply-subjects.ts";
import type { BusMessage } from "./message.ts";
import type { DoorMeter } from "./meter.ts";

/** One holder's side of the permits: what was delivered to it, what it may answer (methods). */
export interface ReplyHolder {
  /** `message` was delivered to this holder: if it is a request, it may answer it. */
  delivered(message: BusMessage): void;
  /** Uses up this holder's permit to publish to `channel`; false when it holds none. */
  take(channel: string): boolean;
  /** The door's traffic counters, when the server keeps metrics (see access/metered.ts). */
  readonly meter?: DoorMeter;
}

/** Where a door gets the permits of each of its connections (ReplyPermits, or a metered view). */
export interface ReplyHolders {
  holder(name: string): ReplyHolder;
}

/**
 * Who may answer which request (after NATS's `allow_responses`): delivering a request to a
 * holder (a native connection, a Bus token) lets that holder publish to its reply subject once
 * per delivery (a token whose two streams got the request may answer twice, as Bus's confirm
 * expects), until the request's timeout or `windowMs` after it was published, whichever comes
 * first. Bounded: past `max` permits the oldest go.
 */
export class ReplyPermits implements ReplyHolders {
  readonly #windowMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /**
   * `holder reply-subject` → when the permit expires and how many replies it allows; in the
   * order given (≈ expiry order).
   */
  readonly #permits = new Map<string, { until: number; replies: number }>();

  constructor(options: { windowMs: number; max: number; now?: () => number }) {
    this.#windowMs = options.windowMs;
    this.#max = options.max;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#permits.size;
  }

  /** The permits of one holder, named `name` (unique per native connection or Bus token). */
  holder(name: string): ReplyHolder {
    return new PermitHolder(this, name);
  }

  /** `message` was delivered to `holder`: if it is a request still in its window, a permit. */
  delivered(holder: string, message: BusMessage): void {
    const replyTo = message.headers?.[REPLY_TO_HEADER];
    if (replyTo === undefined) return;
    const now = this.#now();
    const expires = Math.min(message.time + this.#windowMs, message.replyBy ?? Infinity);
    if (expires <= now) return;
    const key = `${holder} ${replyTo}`;
    const replies = (this.#permits.get(key)?.replies ?? 0) + 1;
    this.#permits.delete(key);
    this.#permits.set(key, { until: expires, replies });
    for (const [oldest, { until }] of this.#permits) {
      if (this.#permits.size <= this.#max && until > now) break;
      this.#permits.delete(oldest);
    }
  }

  /** Uses up `holder`'s permit to publish to `channel`; false when it holds none (or too late). */
  take(holder: string, channel: string): boolean {
    const key = `${holder} ${channel}`;
    const permit = this.#permits.get(key);
    if (permit === undefined) return false;
    if (--permit.replies === 0) this.#permits.delete(key);
    return permit.until > this.#now();
  }
}

/** One holder of ReplyPermits: an object with shared methods, no closures per connection. */
class PermitHolder implements ReplyHolder {
  constructor(readonly permits: ReplyPermits, readonly name: string) {}

  delivered(message: BusMessage): void {
    this.permits.delivered(this.name, message);
  }

  take(channel: string): boolean {
    return this.permits.take(this.name, channel);
  }
}
