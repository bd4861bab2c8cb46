import type { StartFrom } from "../../../client/shared/messages.ts";
import type { Subscriber } from "../../core/broker.ts";
import type { BusMessage } from "../../core/message.ts";
import { authorizeSubscribe } from "../../access/subscribe.ts";
import { channelOf, mayRead, principalOf, topicList } from "./access.ts";
import { authenticate, type PulsarContext, requirePermission } from "./context.ts";
import { Fields, forbidden, HttpError, json, jsonText, readJson } from "./http.ts";
import { listItem, seqOfId } from "./message.ts";
import type { Route } from "./router.ts";
import { subscribeTopic } from "./start.ts";
import type { HttpRequest } from "../../transport/http-request.ts";

/** At most this many messages per answer; `has_more` says there are more. */
const MAX_MESSAGES = 100;

function readPoll(body: unknown) {
  const f = new Fields(body);
  const list = f.list("topics", { required: true, min: 1, max: 20 }) ?? [];
  const topics = topicList(f, "topics", list);
  const since = f.strings("since") ?? {};
  const timeout = f.int("timeout", { min: 1, max: 60 }) ?? 30;
  for (const [topic, id] of Object.entries(since)) {
    if (seqOfId(id) === undefined) {
      f.nested(since, "since").problem(
        topic,
        "value_error",
        "Value error, a message_id such as 1700000000000-42",
      );
    }
  }
  f.done();
  return { topics: [...new Set(topics as string[])], since, timeout };
}

/**
 * `POST /messages/poll`. Each topic is one subscription that replays what came after its
 * `since` id, then takes live messages, in the broker's single step, so a message published
 * between the catch-up and the wait cannot be missed; replayed and live messages share one
 * shape. The answer leaves once the first message is in (with everything that arrived in the
 * same tick, up to 100: `has_more` then), or after `timeout` seconds with none.
 */
async function poll(ctx: PulsarContext, request: HttpRequest) {
  const { user } = await authenticate(ctx, request);
  requirePermission(user, "read");
  const { topics, since, timeout } = readPoll(
    await readJson(request, ctx.settings.pulsarMaxBodyBytes),
  );
  if (!topics.every((t) => mayRead(ctx.store, user, t))) {
    throw forbidden("Access denied to one or more requested topics");
  }
  const principal = principalOf(ctx.store, user, topics);
  for (const t of topics) authorizeSubscribe(principal, channelOf(t));
  if ((ctx.polls.perUser.get(user.user_id) ?? 0) >= ctx.settings.pulsarMaxPollWaitersPerUser) {
    throw new HttpError(429, "Too many concurrent poll connections");
  }

  const messages: BusMessage[] = [];
  let hasMore = false;
  let done = false;
  const { promise: answered, resolve: answer } = Promise.withResolvers<void>();
  let flush: ReturnType<typeof setTimeout> | undefined;
  /** Whether `m` went into the answer. */
  const take = (m: BusMessage): boolean => {
    if (done) return false;
    if (messages.length >= MAX_MESSAGES) {
      hasMore = true;
      return false;
    }
    messages.push(m);
    flush ??= setTimeout(answer, 0);
    return true;
  };
  const subscriptions: [string, Subscriber][] = [];
  const holder = `pulsar-${user.user_id}`;
  // Live messages are counted (the door's meter) as the replayed ones are, by the holder.
  const replies = ctx.services.replies.holder(holder);
  ctx.polls.enter(user.user_id, topics);
  const timer = setTimeout(answer, timeout * 1000);
  request.signal.addEventListener("abort", () => answer());
  try {
    for (const t of topics) {
      const sub: Subscriber = {
        deliver: (m) => {
          if (take(m)) replies.delivered(m);
        },
      };
      subscriptions.push([t, sub]);
      const after = since[t] === undefined ? undefined : seqOfId(since[t])!;
      const from: StartFrom = after === undefined ? "new" : { seq: after + 1 };
      await subscribeTopic(ctx, t, sub, from, {
        send: take,
        ready: () => undefined,
        gone: () => done || messages.length >= MAX_MESSAGES,
      }, holder);
    }
    await answered;
  } finally {
    done = true;
    clearTimeout(timer);
    clearTimeout(flush);
    for (const [t, sub] of subscriptions) ctx.services.broker.unsubscribe(sub, channelOf(t));
    ctx.polls.leave(user.user_id, topics);
  }
  // Replays of several topics may interleave with live messages: list them in log order.
  messages.sort((a, b) => a.seq - b.seq);
  return jsonText(200, `{"messages":[${messages.map(listItem).join(",")}],"has_more":${hasMore}}`);
}

export const POLL_ROUTES: Route[] = [
  ["POST", "/messages/poll", poll],
  ["GET", "/messages/poll/stats", async (ctx, request) => {
    await authenticate(ctx, request);
    return json(200, {
      active_waiters: ctx.polls.active,
      subscribed_topics: ctx.polls.perTopic.size,
      topic_subscriber_counts: Object.fromEntries(ctx.polls.perTopic),
    });
  }],
];
