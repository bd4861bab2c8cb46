import type { Published, PublishInput } from "../../core/broker.ts";
import { Publisher } from "../../access/publisher.ts";
import { canAccess, channelOf, principalOf, TOPIC_NAME, TOPIC_NAME_RULE } from "./access.ts";
import { authenticate, type Caller, type PulsarContext, requirePermission } from "./context.ts";
import { errorResponse, Fields, forbidden, jsonText, readJson } from "./http.ts";
import { isoTime, messageIdOf, METADATA_HEADER } from "./message.ts";
import type { Route } from "./router.ts";
import { topicForPublish } from "./topic-routes.ts";
import type { StoredAnswer } from "./idempotency.ts";
import type { WholeAnswer } from "../../transport/http-response.ts";
import type { HttpRequest } from "../../transport/http-request.ts";

const encoder = new TextEncoder();

/** One message of a request, checked as the original's `Message` model. */
interface Item {
  topic: string;
  payload: Uint8Array;
  ttl?: number;
  metadata?: Record<string, string>;
}

function readItem(f: Fields): Item | undefined {
  const topic = f.str("topic", {
    required: true,
    min: 1,
    max: 255,
    pattern: TOPIC_NAME,
    what: TOPIC_NAME_RULE,
  });
  const payload = f.obj("payload", { required: true });
  const ttl = f.int("ttl", { gt: 0 });
  const metadata = f.strings("metadata");
  if (!f.ok) return undefined;
  return {
    topic: topic!,
    payload: encoder.encode(JSON.stringify(payload)),
    ...(ttl !== undefined ? { ttl } : {}),
    ...(metadata ? { metadata } : {}),
  };
}

/** The topics exist (created owned by the caller when new) and the caller may write them all. */
async function authorizeTopics(ctx: PulsarContext, caller: Caller, topics: Set<string>) {
  for (const name of topics) {
    const topic = await topicForPublish(ctx, caller, name);
    if (!canAccess(caller.user, topic, "write")) {
      throw forbidden(
        topics.size === 1
          ? `Access denied to topic '${name}' (requires write permission)`
          : "Access denied to one or more requested topics",
      );
    }
  }
  return new Publisher(
    principalOf(ctx.store, caller.user, [], topics),
    ctx.services.replies.holder(`pulsar-${caller.user.user_id}`),
    { maxPayload: ctx.settings.maxPayload, maxJsonDepth: ctx.settings.maxJsonDepth },
  );
}

/** The message's `ttl`, capped by `storage.persistent_tier_retention`; none when neither is set. */
function expiry(ctx: PulsarContext, ttl: number | undefined): { expiresAt?: number } {
  const retention = ctx.settings.pulsarPersistentTierRetentionMs;
  const lifetime = ttl ? Math.min(ttl * 1000, retention || Infinity) : retention;
  return lifetime ? { expiresAt: Date.now() + lifetime } : {};
}

/** The item as the broker takes it, once the access layer's rules let it through (or a throw). */
function inputOf(ctx: PulsarContext, publisher: Publisher, item: Item): PublishInput {
  const channel = channelOf(item.topic);
  const headers = item.metadata ? { [METADATA_HEADER]: JSON.stringify(item.metadata) } : undefined;
  publisher.authorize({ channel, payload: item.payload, ...(headers ? { headers } : {}) });
  return {
    channel,
    payload: item.payload,
    ...(headers ? { headers } : {}),
    ...expiry(ctx, item.ttl),
  };
}

/** Publishes one item: resolves once it is stored (as the log's fsync policy says). */
function publishItem(ctx: PulsarContext, publisher: Publisher, item: Item): Promise<Published> {
  const published = ctx.services.broker.publish(inputOf(ctx, publisher, item));
  published.then(() => ctx.metrics.received(), () => {});
  return published;
}

/**
 * Publishes every item in one broker call (one append to the log for the batch): each settles
 * as the item was stored or refused, by the access rules or the broker.
 */
function publishItems(
  ctx: PulsarContext,
  publisher: Publisher,
  items: Item[],
): Promise<PromiseSettledResult<Published>[]> {
  const outcomes: PromiseSettledResult<Published>[] = new Array(items.length);
  const inputs: PublishInput[] = [];
  const tags: number[] = [];
  let pending = items.length;
  const { promise, resolve } = Promise.withResolvers<PromiseSettledResult<Published>[]>();
  const settle = (i: number, outcome: PromiseSettledResult<Published>) => {
    outcomes[i] = outcome;
    if (--pending === 0) resolve(outcomes);
  };
  items.forEach((item, i) => {
    try {
      inputs.push(inputOf(ctx, publisher, item));
      tags.push(i);
    } catch (reason) {
      settle(i, { status: "rejected", reason });
    }
  });
  ctx.services.broker.publishBatch(inputs, tags, {
    published: (i, value) => settle(i, { status: "fulfilled", value }),
    failed: (i, reason) => settle(i, { status: "rejected", reason }),
  });
  return promise.then((all) => {
    ctx.metrics.received(all.filter((o) => o.status === "fulfilled").length);
    return all;
  });
}

const receipt = (m: Published, topic: string) => ({
  message_id: messageIdOf(m),
  topic,
  timestamp: isoTime(m.time),
});

async function publishOne(
  ctx: PulsarContext,
  caller: Caller,
  body: unknown,
): Promise<StoredAnswer> {
  const f = new Fields(body);
  const item = readItem(f);
  f.done();
  const publisher = await authorizeTopics(ctx, caller, new Set([item!.topic]));
  const m = await publishItem(ctx, publisher, item!);
  return { status: 201, body: JSON.stringify(receipt(m, item!.topic)) };
}

/**
 * `POST /api/v1/messages/bulk`: every item is checked first (422 names the bad ones); every
 * topic must be writable (403 otherwise, naming none); then each item is published, one
 * refusal (size, JSON depth) rejecting that item only. The items go to the log together.
 */
async function publishBulk(
  ctx: PulsarContext,
  caller: Caller,
  body: unknown,
): Promise<StoredAnswer> {
  const f = new Fields(body);
  const list = f.list("messages", { required: true, min: 1, max: 100 }) ?? [];
  const items = list.map((raw, i) => readItem(f.nested(raw, "messages", i)));
  f.done();
  const publisher = await authorizeTopics(ctx, caller, new Set(items.map((i) => i!.topic)));
  const outcomes = await publishItems(ctx, publisher, items as Item[]);
  const results = outcomes.map((o, i) =>
    o.status === "fulfilled"
      ? {
        message_id: messageIdOf(o.value),
        topic: items[i]!.topic,
        status: "accepted",
        error: null,
      }
      : {
        message_id: null,
        topic: items[i]!.topic,
        status: "rejected",
        error: o.reason instanceof Error && "clientMessage" in o.reason
          ? String((o.reason as { clientMessage: string }).clientMessage)
          : "internal error",
      }
  );
  const accepted = results.filter((r) => r.status === "accepted").length;
  return {
    status: 207,
    body: JSON.stringify({
      results,
      summary: { total: results.length, accepted, rejected: results.length - accepted },
    }),
  };
}

/** Runs a publish through its Idempotency-Key (when it has one) and answers it. */
async function idempotent(
  ctx: PulsarContext,
  request: HttpRequest,
  publish: (ctx: PulsarContext, caller: Caller, body: unknown) => Promise<StoredAnswer>,
): Promise<WholeAnswer> {
  const caller = await authenticate(ctx, request);
  requirePermission(caller.user, "write");
  const body = await readJson(request, ctx.settings.pulsarMaxBodyBytes);
  const items = (body as { messages?: unknown })?.messages;
  ctx.userRate.take(
    caller.user.user_id,
    publish === publishBulk && Array.isArray(items) ? Math.max(1, items.length) : 1,
  );
  const key = request.headers.get("idempotency-key");
  const run = () =>
    publish(ctx, caller, body).catch((e) => {
      const refused = errorResponse(e, (error) =>
        ctx.services.log("warn", "pulsar publish failed", { error: String(error) }));
      return { status: refused.status, body: refused.body ?? "" };
    });
  const answer = key
    ? await ctx.idempotency.answer(
      `${caller.user.user_id}\n${new URL(request.url).pathname}\n${key}`,
      run,
    )
    : await run();
  return jsonText(answer.status, answer.body);
}

export const MESSAGE_ROUTES: Route[] = [
  ["POST", "/api/v1/messages", (ctx, request) => idempotent(ctx, request, publishOne)],
  ["POST", "/api/v1/messages/bulk", (ctx, request) => idempotent(ctx, request, publishBulk)],
];
