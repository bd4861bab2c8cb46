import type { BusMessage } from "../core/message.ts";
import type { ReplyHolder } from "../core/replies.ts";
import { namespaceOf } from "../../client/shared/subject.ts";

/** Messages dropped in one namespace: every one after `after` in `epoch`. */
export interface Gap {
  namespace: string;
  epoch: string;
  after: number;
}

/** A connection's live queue, as the lag policy sees it. */
export interface LiveSink {
  /** Queues the message if there is room; false when it is full (nothing queued). */
  push(message: BusMessage): boolean;
  /** Resolves when the connection has caught up enough to take live messages again. */
  drained(): Promise<void>;
}

export interface LagHooks {
  /** The connection fell behind: the first message was dropped (the door may end it here). */
  onLag(): void;
  /** It caught up: what was dropped meanwhile, one gap per namespace. */
  onCaughtUp(gaps: Gap[]): void;
}

/**
 * The slow-consumer policy of every door, for live (not replayed) messages: a subscriber that
 * cannot keep up never blocks the publisher nor grows its queue. Its messages are dropped
 * while it is behind, and recorded as one gap per namespace that the door reports once the
 * queue drains (a native `gap` notice), or the door ends the connection at once (a Bus
 * stream, resumed with Last-Event-ID). `laggingSince` lets the live-connection registry close
 * a connection that stays behind longer than `--slow-consumer-timeout`. Never a silent gap.
 */
export class LagPolicy {
  /** Since when messages are being dropped, or 0. */
  laggingSince = 0;
  readonly #sink: LiveSink;
  readonly #replies: ReplyHolder;
  readonly #hooks: LagHooks;
  /** Made at the first drop (most connections never lag). */
  #gaps?: Map<string, Gap>;

  constructor(sink: LiveSink, replies: ReplyHolder, hooks: LagHooks) {
    this.#sink = sink;
    this.#replies = replies;
    this.#hooks = hooks;
  }

  deliver(message: BusMessage): void {
    if (this.laggingSince) return this.#recordGap(message);
    if (this.#sink.push(message)) return this.#replies.delivered(message);
    this.laggingSince = Date.now();
    this.#recordGap(message);
    this.#hooks.onLag();
    this.#sink.drained().then(() => this.#caughtUp());
  }

  #recordGap(message: BusMessage) {
    const namespace = namespaceOf(message.channel);
    this.#replies.meter?.dropped(namespace);
    this.#gaps ??= new Map();
    if (!this.#gaps.has(namespace)) {
      this.#gaps.set(namespace, { namespace, epoch: message.epoch, after: message.seq - 1 });
    }
  }

  #caughtUp() {
    this.laggingSince = 0;
    const gaps = [...this.#gaps?.values() ?? []];
    this.#gaps = undefined;
    this.#hooks.onCaughtUp(gaps);
  }
}
