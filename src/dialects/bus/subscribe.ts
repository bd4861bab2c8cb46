import type { Principal } from "../../auth/grants.ts";
import type { Broker, Subscriber } from "../../core/broker.ts";
import { CatbusError, ErrorCode, isCatbusError } from "../../../client/shared/errors.ts";
import { randomId } from "../../core/ids.ts";
import { type BusMessage, encodedOnce } from "../../core/message.ts";
import type { ReplyHolder } from "../../core/replies.ts";
import { literalNamespaceOf, parsePattern } from "../../../client/shared/subject.ts";
import type { StartFrom } from "../../../client/shared/messages.ts";
import { parseGoDuration } from "../../core/units.ts";
import type { LiveConnection, SessionRegistry } from "../../auth/live-connections.ts";
import { sseFrame, SseStream } from "../../transport/sse.ts";
import type { Consumer } from "../../streams/consumer.ts";
import type { ConsumerRegistry } from "../../streams/consumer-registry.ts";
import { openNamespace } from "../../access/publish.ts";
import { authorizeSubscribe, replaySubscriber } from "../../access/subscribe.ts";
import { authorizePresence, presenceMember } from "../../access/presence.ts";
import type { PresenceRegistry } from "../../core/presence.ts";
import { LagPolicy } from "../../access/lag.ts";
import { createConsumer, pacedMember } from "../../access/consumers.ts";
import { regrant } from "../../access/regrant.ts";
import { CORS_HEADERS } from "./cors.ts";
import { checkBusSubject, eventIdOf, eventJson, messageIdOf } from "./event.ts";
import type { Logger } from "../../core/logger.ts";

const bad = (message: string) => new CatbusError(ErrorCode.BadRequest, message);

/**
 * A manual-ack consumer bound to open streams: the deliveries awaiting an ack, by message id,
 * and how many streams consume it (several for a durable consumer's queue group).
 */
export interface BusBinding {
  consumer: Consumer;
  awaiting: Map<string, number>;
  streams: number;
}

export interface BusSubscribeContext {
  broker: Broker;
  consumers: ConsumerRegistry;
  principal: Principal;
  /** Requests delivered on a stream may be answered with this token. */
  replies: ReplyHolder;
  checkNamespace(name: string): Promise<void>;
  /** Manual-ack subscriptions by consumer id, for PUT. */
  bindings: Map<string, BusBinding>;
  /** Open streams without manual ack: consumer id → pattern (their acks are no-ops). */
  noAckStreams: Map<string, string>;
  outboundBytes: number;
  keepAliveMs: number;
  /** The peer's address (`http:127.0.0.1:50122`), for the live connection's log lines. */
  remote: string;
  /** Every open stream, so the listener can end them on shutdown. */
  streams: Set<SseStream>;
  /** Where streams register, so revocation, role deletion and expiry end them. */
  live: Pick<SessionRegistry, "add" | "delete">;
  /** Where a stream opened with `presence=true` is a member of its channel's presence. */
  presence: PresenceRegistry;
  log: Logger;
}

interface SubscribeParams {
  pattern: string;
  from: StartFrom;
  manual: boolean;
  redeliveryMs: number;
  redeliveryCount: number;
  maxInFlight: number;
  /** Catbus addition: a named durable consumer (saved, shared by every stream that names it). */
  durable?: string;
  /** Catbus addition (`presence=true`): the stream is a member of its channel's presence. */
  presence: boolean;
}

function wholeParam(url: URL, name: string, fallback: number, min: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw bad(`${name} must be a whole number ≥ ${min}`);
  return n;
}

/** As the original: an empty or unreadable value means the default, never a refusal. */
function lenientParam<T>(raw: string | null, read: (raw: string) => T | undefined, fallback: T): T {
  return (raw ? read(raw) : undefined) ?? fallback;
}

/** A Go duration above zero, in whole ms (at least 1). */
const positiveDuration = (raw: string) => {
  const ms = parseGoDuration(raw);
  return ms !== undefined && ms > 0 ? Math.ceil(ms) : undefined;
};

const wholeNumber = (raw: string) => {
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
};

/**
 * The query of `GET /?subject=…`; `Last-Event-ID` overrides `start` (resume after it). `ack`,
 * `redelivery` and `redelivery_count` fall back to their defaults when empty or unreadable, as
 * the original does: Bus's Go SDK sends `ack=&redelivery=0s` unless told otherwise.
 */
export function parseSubscribeParams(url: URL, lastEventId: string | null): SubscribeParams {
  const pattern = url.searchParams.get("subject");
  if (!pattern) throw bad("subject is required, e.g. GET /?subject=orders.>");
  parsePattern(pattern);
  checkBusSubject(pattern);
  if (literalNamespaceOf(pattern) === undefined) {
    throw bad(`subject "${pattern}": the first token names the namespace and cannot be a wildcard`);
  }
  // An `e_…` Last-Event-ID resumes after that event; anything else there is ignored.
  const resumeAfter = lastEventId?.startsWith("e_") ? lastEventId : undefined;
  const start = resumeAfter || url.searchParams.get("start") || "newest";
  let from: StartFrom;
  if (start === "oldest") from = "first";
  else if (start === "newest") from = "new";
  else from = { id: messageIdOf(start, "start") };
  const ack = lenientParam(
    url.searchParams.get("ack"),
    (raw) => raw === "manual" || raw === "none" ? raw : undefined,
    "none",
  );
  const durable = url.searchParams.get("durable") || undefined;
  if (durable && ack !== "manual") throw bad("durable consumers need ack=manual");
  return {
    pattern,
    from,
    manual: ack === "manual",
    redeliveryMs: lenientParam(url.searchParams.get("redelivery"), positiveDuration, 5000),
    // Bus: ≤ 0 means unlimited.
    redeliveryCount: Math.max(
      0,
      lenientParam(url.searchParams.get("redelivery_count"), wholeNumber, 3),
    ),
    maxInFlight: wholeParam(url, "max_in_flight", 1, 1),
    presence: url.searchParams.get("presence") === "true",
    ...(durable ? { durable } : {}),
  };
}

const messageFrame = (m: BusMessage) =>
  sseFrame({ id: eventIdOf(m), event: "msg", data: eventJson(m) });

/** `GET /?subject=…`: a `text/event-stream` of the subject's events. */
export async function subscribe(
  ctx: BusSubscribeContext,
  params: SubscribeParams,
): Promise<Response> {
  const { broker, principal } = ctx;
  authorizeSubscribe(principal, params.pattern);
  if (params.presence) authorizePresence(principal, params.pattern);
  // A stream may come before the first event: as for a publish, `create` brings it into existence.
  await openNamespace(broker, principal, params.pattern, ctx.checkNamespace);
  const ns = literalNamespaceOf(params.pattern)!;
  const id = params.durable ?? `c_${randomId(20)}`;
  const options = {
    highWaterBytes: ctx.outboundBytes / 2,
    keepAliveMs: ctx.keepAliveMs,
    headers: { "x-bus-consumer-id": id, ...CORS_HEADERS },
  };
  // As the original: a start event that is not in the log is an error event on the stream.
  const start = params.from;
  if (typeof start === "object" && "id" in start) {
    if (!await broker.findMessage(broker.namespace(ns)!, start.id)) {
      const stream = new SseStream({ ...options, onClose: () => {} });
      endStream(stream, `start event e_${start.id} not found in namespace "${ns}"`);
      return stream.response;
    }
  }
  // Joined last, so a refusal (`--max-presence-members`) leaves nothing open behind it.
  const leavePresence = params.presence ? joinPresence(ctx, params.pattern) : () => {};
  try {
    return params.manual
      ? await manualAck(ctx, params, id, options, leavePresence)
      : noAck(ctx, params, id, options, leavePresence);
  } catch (e) {
    leavePresence();
    throw e;
  }
}

type StreamOptions = Omit<ConstructorParameters<typeof SseStream>[0], "onClose">;

/** Ends a stream with an `error` event saying why. */
function endStream(stream: SseStream, why: string) {
  stream.send(sseFrame({ event: "error", data: why }));
  stream.close();
}

/**
 * Registers an open stream as a live connection of its principal: it ends (with an `error`
 * event) when the token expires, the role is deleted, or the read grant for its pattern goes.
 * Returns the unregistration, for the stream's close.
 */
function registerLive(
  ctx: BusSubscribeContext,
  pattern: string,
  stream: SseStream,
  leavePresence: () => void,
  consumer?: string,
): () => void {
  const { principal } = ctx;
  const live: LiveConnection = {
    principal,
    remote: ctx.remote,
    close: (error) =>
      error ? endStream(stream, `${error.code}: ${error.clientMessage}`) : stream.close(),
    regrant: (grants) =>
      regrant(
        principal,
        grants,
        [{ pattern, ...(consumer ? { consumer } : {}) }],
        (_, error) => endStream(stream, `${error.code}: ${error.clientMessage}`),
      ),
  };
  ctx.live.add(live);
  return () => {
    ctx.live.delete(live);
    leavePresence();
  };
}

/**
 * Makes the stream's principal a member of the channel's presence (`presence=true`); returns
 * how it leaves. An open event stream is alive (its writes fail once the peer is gone), so it
 * never outlives the TTL.
 */
function joinPresence(ctx: BusSubscribeContext, channel: string): () => void {
  const present = {
    member: presenceMember(ctx.principal),
    get lastSeen() {
      return Date.now();
    },
  };
  ctx.presence.join(channel, present);
  return () => ctx.presence.leaveAll(present);
}

/** Every matching event once, as it comes; a reader that falls too far behind is cut off. */
function noAck(
  ctx: BusSubscribeContext,
  params: SubscribeParams,
  id: string,
  options: StreamOptions,
  leavePresence: () => void,
) {
  // SSE has no gap notice: a stream that falls behind ends, and the client reconnects with
  // Last-Event-ID to get the rest.
  const lag = new LagPolicy(
    {
      push: (m) => {
        if (stream.overflow > options.highWaterBytes) return false;
        stream.send(encodedOnce(m, "bus-sse", messageFrame));
        return true;
      },
      drained: () => stream.ready(),
    },
    ctx.replies,
    {
      onLag: () =>
        endStream(
          stream,
          "slow consumer: reconnect with Last-Event-ID to resume after the last event",
        ),
      onCaughtUp: () => {},
    },
  );
  const sub: Subscriber = { deliver: (m) => lag.deliver(m) };
  const stream = new SseStream({
    ...options,
    onClose: () => {
      ctx.streams.delete(stream);
      ctx.noAckStreams.delete(id);
      unregister();
      ctx.broker.unsubscribe(sub, params.pattern);
    },
  });
  ctx.streams.add(stream);
  ctx.noAckStreams.set(id, params.pattern);
  const unregister = registerLive(ctx, params.pattern, stream, leavePresence);
  const replay = replaySubscriber({
    send: (m) => stream.send(messageFrame(m)),
    ready: () => stream.congested ? stream.ready() : undefined,
    gone: () => stream.closed,
  }, ctx.replies);
  ctx.broker.subscribe(sub, params.pattern, { from: params.from }, replay).then(() => {
    if (stream.closed) ctx.broker.unsubscribe(sub, params.pattern);
  }, (e) => {
    if (isCatbusError(e) && e.clientMessage !== e.message) ctx.log("warn", e.message);
    stream.send(sseFrame({ event: "error", data: isCatbusError(e) ? e.clientMessage : String(e) }));
    stream.close();
  });
  return stream.response;
}

/**
 * Manual ack: a consumer of this connection's own (not saved; gone with the connection) with
 * ack wait = `redelivery`, max deliver = `redelivery_count`, `max_in_flight` unacked events,
 * and the dead-letter channel `$sys.dlq.<consumer id>` instead of a silent drop. With
 * `durable=NAME` the consumer is saved under that name and outlives the stream: streams naming
 * it share its messages, and a later stream picks up where the last one left off.
 */
async function manualAck(
  ctx: BusSubscribeContext,
  params: SubscribeParams,
  id: string,
  options: StreamOptions,
  leavePresence: () => void,
) {
  const durable = params.durable !== undefined;
  const consumer = await createConsumer(ctx, ctx.principal, {
    name: id,
    pattern: params.pattern,
    from: params.from,
    ackWait: params.redeliveryMs,
    maxDeliver: params.redeliveryCount,
    maxInFlight: params.maxInFlight,
  }, { persist: durable });
  let binding = ctx.bindings.get(id);
  if (!binding) ctx.bindings.set(id, binding = { consumer, awaiting: new Map(), streams: 0 });
  binding.streams++;
  const { awaiting } = binding;
  const stream = new SseStream({
    ...options,
    onClose: () => {
      ctx.streams.delete(stream);
      unregister();
      consumer.leave(member);
      if (--binding.streams > 0) return;
      ctx.bindings.delete(id);
      if (durable) return;
      ctx.consumers.delete(id).catch((e) =>
        ctx.log("warn", "bus consumer cleanup failed", { consumer: id, error: String(e) })
      );
    },
  });
  const member = pacedMember(
    consumer,
    { congested: () => stream.congested, ready: () => stream.ready() },
    ({ message: m, attempt }) => {
      awaiting.set(m.id, m.seq);
      // Events given up on (dead-lettered) are never acked: forget them now and then.
      if (awaiting.size > 2 * consumer.config.maxInFlight + 64) {
        for (const [id, seq] of awaiting) if (!consumer.isPending(seq)) awaiting.delete(id);
      }
      stream.send(sseFrame({ id: eventIdOf(m), event: "msg", data: eventJson(m, attempt) }));
    },
    (m) => ctx.replies.delivered(m),
  );
  ctx.streams.add(stream);
  const unregister = registerLive(ctx, params.pattern, stream, leavePresence, id);
  consumer.join(member);
  return stream.response;
}
