import type { StartFrom } from "../../../client/shared/messages.ts";
import type { BusMessage } from "../../core/message.ts";
import type { Subscriber } from "../../core/broker.ts";
import { type ReplaySink, replaySubscriber } from "../../access/subscribe.ts";
import { channelOf } from "./access.ts";
import type { PulsarContext } from "./context.ts";
import type { TopicRecord } from "./store.ts";

/**
 * Subscribes `live` to one topic, replaying first from `from` (after a `since`/`offset` id,
 * or the topic's start) through the access layer's replay subscriber, then live, in the
 * broker's one step: nothing published meanwhile falls between. Messages of an earlier topic
 * of the same name are skipped.
 */
export async function subscribeTopic(
  ctx: PulsarContext,
  topic: string,
  live: Subscriber,
  from: StartFrom,
  sink: ReplaySink,
  holder: string,
): Promise<void> {
  const record: TopicRecord | undefined = ctx.store.topic(topic);
  const firstSeq = record?.first_seq ?? 0;
  const start = typeof from === "object" && "seq" in from
    ? { seq: Math.max(from.seq, firstSeq) }
    : from;
  const replay = replaySubscriber({
    send: (m: BusMessage) => {
      if (m.seq >= firstSeq) sink.send(m);
    },
    ready: () => sink.ready(),
    gone: () => sink.gone(),
  }, ctx.services.replies.holder(holder));
  await ctx.services.broker.subscribe(live, channelOf(topic), { from: start }, replay);
}
