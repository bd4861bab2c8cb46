import {
  canAccess,
  channelOf,
  isAdmin,
  PULSAR_NAMESPACE,
  TOPIC_NAME,
  TOPIC_NAME_RULE,
} from "./access.ts";
import { authenticate, type Caller, type PulsarContext, requirePermission } from "./context.ts";
import { badRequest, Fields, forbidden, HttpError, json, notFound, readJson } from "./http.ts";
import type { TopicRecord } from "./store.ts";
import type { Route } from "./router.ts";
import { history } from "./history.ts";
import type { HttpRequest } from "../../transport/http-request.ts";

/** A topic as the API shows it; the grant list only to its owner (and admins). */
function topicPublic(topic: TopicRecord, caller: Caller) {
  const owner = topic.owner_id === caller.user.user_id || isAdmin(caller.user);
  return {
    topic_id: topic.topic_id,
    topic_name: topic.topic_name,
    owner_id: topic.owner_id,
    is_public: topic.is_public,
    created_at: topic.created_at,
    description: topic.description,
    allowed_user_ids: owner ? Object.keys(topic.grants) : null,
  };
}

/** The next sequence of the `pulsar` namespace: where a new topic's messages begin. */
export const nextSeq = (ctx: PulsarContext): number =>
  (ctx.services.broker.namespace(PULSAR_NAMESPACE)?.lastSeq ?? 0) + 1;

/**
 * The topic, created owned by the caller if it does not exist (as a publish to a new topic
 * does in the original).
 */
export async function topicForPublish(ctx: PulsarContext, caller: Caller, name: string) {
  const existing = ctx.store.topic(name);
  if (existing) return existing;
  const created = await ctx.store.createTopic({
    topic_name: name,
    owner_id: caller.user.user_id,
    is_public: false,
    description: `Auto-created topic by ${caller.user.username}`,
  }, nextSeq(ctx));
  return created ?? ctx.store.topic(name)!;
}

const topicNotFound = (name: string) => notFound(`Topic '${name}' not found`);

function existing(ctx: PulsarContext, name: string): TopicRecord {
  const topic = ctx.store.topic(name);
  if (!topic) throw topicNotFound(name);
  return topic;
}

/** Owner or admin, or 403 saying who may `action` (the original's words). */
function requireOwner(topic: TopicRecord, caller: Caller, action: string) {
  if (topic.owner_id !== caller.user.user_id && !isAdmin(caller.user)) {
    throw forbidden(`Only the topic owner can ${action}`);
  }
}

function requireRead(topic: TopicRecord, caller: Caller) {
  if (!canAccess(caller.user, topic, "read")) {
    throw forbidden(`Access denied to topic '${topic.topic_name}'`);
  }
}

async function createTopic(ctx: PulsarContext, request: HttpRequest) {
  const caller = await authenticate(ctx, request);
  requirePermission(caller.user, "write");
  const f = new Fields(await readJson(request, ctx.settings.pulsarMaxBodyBytes));
  const name = f.str("topic_name", { required: true, pattern: TOPIC_NAME, what: TOPIC_NAME_RULE });
  const isPublic = f.bool("is_public") ?? false;
  const description = f.str("description", { max: 500 }) ?? null;
  f.done();
  const topic = await ctx.store.createTopic({
    topic_name: name!,
    owner_id: caller.user.user_id,
    is_public: isPublic,
    description,
  }, nextSeq(ctx));
  if (!topic) throw badRequest(`Topic '${name}' already exists`);
  return json(201, topicPublic(topic, caller));
}

/** Owned, granted and public topics (every topic for an admin). */
async function listTopics(ctx: PulsarContext, request: HttpRequest) {
  const caller = await authenticate(ctx, request);
  const visible = ctx.store.topics().filter((t) => canAccess(caller.user, t, "read"));
  return json(200, visible.map((t) => topicPublic(t, caller)));
}

async function updateTopic(ctx: PulsarContext, request: HttpRequest, name: string) {
  const caller = await authenticate(ctx, request);
  const topic = existing(ctx, name);
  requireOwner(topic, caller, "update it");
  const f = new Fields(await readJson(request, ctx.settings.pulsarMaxBodyBytes));
  const isPublic = f.bool("is_public");
  const description = f.str("description", { max: 500 });
  f.done();
  const updated = await ctx.store.updateTopic(name, {
    ...(isPublic !== undefined ? { is_public: isPublic } : {}),
    ...(description !== undefined ? { description } : {}),
  });
  return json(200, topicPublic(updated ?? topic, caller));
}

/**
 * Deletes the topic and its messages: those up to now are purged from the `pulsar` namespace,
 * so no reader of `pulsar.<name>` — this door's, a native replay — sees them again.
 */
async function deleteTopic(ctx: PulsarContext, request: HttpRequest, name: string) {
  const caller = await authenticate(ctx, request);
  requireOwner(existing(ctx, name), caller, "delete it");
  // Purged first: when storage refuses, the topic is still there for the retry.
  await ctx.services.broker.purgeChannel(channelOf(name));
  await ctx.store.deleteTopic(name);
  return json(204, null);
}

async function grant(ctx: PulsarContext, request: HttpRequest, name: string) {
  const caller = await authenticate(ctx, request);
  const topic = existing(ctx, name);
  requireOwner(topic, caller, "grant access");
  const f = new Fields(await readJson(request, ctx.settings.pulsarMaxBodyBytes));
  const userId = f.str("user_id");
  const username = f.str("username");
  f.done();
  if (!userId && !username) throw badRequest("Either user_id or username must be provided");
  const target = userId ? ctx.store.user(userId) : ctx.store.userByName(username!);
  if (!target) throw notFound("User not found");
  if (!await ctx.store.grant(topic, target.user_id)) {
    throw badRequest(`User ${target.user_id} already has access to topic ${name}`);
  }
  return json(201, {
    topic_name: name,
    user_id: target.user_id,
    username: target.username,
    granted_at: topic.grants[target.user_id],
  });
}

async function listGrants(ctx: PulsarContext, request: HttpRequest, name: string) {
  const caller = await authenticate(ctx, request);
  const topic = existing(ctx, name);
  requireOwner(topic, caller, "list permissions");
  return json(
    200,
    Object.entries(topic.grants).flatMap(([userId, at]) => {
      const user = ctx.store.user(userId);
      return user
        ? [{ topic_name: name, user_id: userId, username: user.username, granted_at: at }]
        : [];
    }),
  );
}

async function revoke(ctx: PulsarContext, request: HttpRequest, name: string, userId: string) {
  const caller = await authenticate(ctx, request);
  const topic = existing(ctx, name);
  requireOwner(topic, caller, "revoke access");
  if (!await ctx.store.revoke(topic, userId)) {
    throw notFound("User does not have access to this topic");
  }
  return json(204, null);
}

async function stats(ctx: PulsarContext, request: HttpRequest) {
  const caller = await authenticate(ctx, request);
  requirePermission(caller.user, "admin");
  const topics = ctx.store.topics();
  const publicCount = topics.filter((t) => t.is_public).length;
  return json(200, {
    total_topics: topics.length,
    public_topics: publicCount,
    private_topics: topics.length - publicCount,
  });
}

async function messages(ctx: PulsarContext, request: HttpRequest, name: string) {
  const caller = await authenticate(ctx, request);
  const topic = existing(ctx, name);
  requireRead(topic, caller);
  const url = new URL(request.url);
  const order = url.searchParams.get("order") ?? "desc";
  if (order !== "asc" && order !== "desc") throw badRequest("Order must be 'asc' or 'desc'");
  const rawLimit = url.searchParams.get("limit") ?? "10";
  const limit = Number(rawLimit);
  if (!Number.isSafeInteger(limit)) {
    throw new HttpError(422, [{
      type: "int_parsing",
      loc: ["query", "limit"],
      msg: "Input should be a valid integer, unable to parse string as an integer",
      input: rawLimit,
    }]);
  }
  if (limit < 1) throw badRequest("Limit must be at least 1");
  const cursor = url.searchParams.get("cursor");
  return await history(ctx, topic, { order, limit: Math.min(limit, 100), cursor });
}

export const TOPIC_ROUTES: Route[] = [
  ["POST", "/api/v1/topics", createTopic],
  ["GET", "/api/v1/topics", listTopics],
  // Before /{topic_name}: in the original this route comes after it and answers 404.
  ["GET", "/api/v1/topics/stats", stats],
  ["GET", "/api/v1/topics/{name}", async (ctx, request, [name]) => {
    const caller = await authenticate(ctx, request);
    const topic = existing(ctx, name);
    requireRead(topic, caller);
    return json(200, topicPublic(topic, caller));
  }],
  ["PUT", "/api/v1/topics/{name}", (ctx, request, [name]) => updateTopic(ctx, request, name)],
  ["DELETE", "/api/v1/topics/{name}", (ctx, request, [name]) => deleteTopic(ctx, request, name)],
  ["GET", "/api/v1/topics/{name}/messages", (ctx, r, [name]) => messages(ctx, r, name)],
  ["POST", "/api/v1/topics/{name}/permissions", (ctx, r, [name]) => grant(ctx, r, name)],
  ["GET", "/api/v1/topics/{name}/permissions", (ctx, r, [name]) => listGrants(ctx, r, name)],
  [
    "DELETE",
    "/api/v1/topics/{name}/permissions/{user_id}",
    (ctx, r, [name, userId]) => revoke(ctx, r, name, userId),
  ],
];
