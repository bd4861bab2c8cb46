/**
 * The meta object of each native frame type: the contract between server and client.
 * docs/protocol.md describes the same shapes for people.
 */
import type { ErrorCode } from "./errors.ts";

export const PROTOCOL_VERSION = 1;

/** SSE + POST: the header that carries a session's secret (given in its first event). */
export const SSE_SESSION_SECRET_HEADER = "catbus-session-secret";

/** A position in a namespace's stream. */
export interface Position {
  epoch: string;
  seq: number;
}

/** Where a new subscription starts when it has no resume position for a namespace. */
export type StartFrom =
  | "new"
  | "last"
  | "first"
  | { seq: number }
  | { time: number }
  /** The messages published after the one with this id. */
  | { id: string };

/** client → server, must be the first frame. */
export interface HelloMeta {
  version: number;
  token?: string;
  /** Free-form client name for logs, e.g. "@catbus/client/0.1.0". */
  client?: string;
}

/** server → client, answer to hello (id echoed). */
export interface WelcomeMeta {
  version: number;
  server: string;
  clientId: string;
  /** Largest payload the server accepts in bytes. */
  maxPayload: number;
  /** The client should ping when idle this long (ms); the server drops silent clients after 3×. */
  heartbeat: number;
  /**
   * Several nodes on a shared engine: the URLs of the cluster's live nodes (this one's too),
   * to reconnect to in random order when this node goes away.
   */
  nodes?: string[];
}

/** client → server. */
export interface SubscribeMeta {
  pattern: string;
  /** Last seen position per namespace; the server replays what came after. */
  resume?: Record<string, Position>;
  from?: StartFrom;
  /** Be a member of the channel's presence while subscribed (a literal channel). */
  presence?: boolean;
  /** Receive `join` and `leave` notices of the channel (a literal channel). */
  joinLeave?: boolean;
}

/** Per-namespace outcome of a subscribe. */
export interface NamespaceRecovery extends Position {
  /** True when every message after the resume position was replayed. */
  recovered: boolean;
  /** Messages replayed before live delivery started. */
  replayed: number;
}

/** server → client: the OK answer to subscribe. */
export interface SubscribedMeta {
  pattern: string;
  /** False when any resumed namespace could not be fully replayed. */
  recovered: boolean;
  namespaces: Record<string, NamespaceRecovery>;
}

export interface UnsubscribeMeta {
  pattern: string;
}

/** client → server; the payload is the frame's data. */
export interface PublishMeta {
  channel: string;
  headers?: Record<string, string>;
  /**
   * Deduplication key (e.g. the message's own id): a repeat within the server's window is
   * acknowledged with the first one's position and not stored again.
   */
  key?: string;
  /** Time to live in ms: the message is not delivered after that. */
  ttl?: number;
  /** A request (with a `reply_to` header): refused with `no_responders` if nobody listens. */
  request?: boolean;
  /** A request's timeout (ms): its reply is refused after it (and after `--reply-window`). */
  timeout?: number;
  /** Answer only after this many durable-consumer acks of the message. */
  confirm?: number;
  /** How long to wait for them, ms (default 5000); then error `timeout` (the message stays stored). */
  confirmTimeout?: number;
}

/** server → client: the OK answer to publish. */
export interface PublishedMeta extends Position {
  id: string;
  time: number;
  /** True when the key was seen within the dedupe window: this is the first one's position. */
  duplicate?: boolean;
}

/** server → client: a delivered message; the payload is the frame's data. */
export interface MessageMeta extends Position {
  channel: string;
  id: string;
  time: number;
  headers?: Record<string, string>;
  /** Set on deliveries of a durable consumer: its name and this delivery's attempt (from 1). */
  consumer?: string;
  attempt?: number;
}

/** How a durable consumer delivers; fixed when it is created (see docs/protocol.md). */
export interface ConsumerConfig {
  /** 1–64 of `A-Z a-z 0-9 _ -`, so it can be a channel token (the dead-letter channel). */
  name: string;
  /** Filter; its first token must be a namespace name: a consumer reads one stream. */
  pattern: string;
  /** Where the consumer starts when it is created. */
  from: StartFrom;
  /** `explicit`: every delivery waits for an ack; `none`: delivered once, nothing to ack. */
  ackPolicy: "none" | "explicit";
  /** A delivery not acked within this many ms is delivered again. */
  ackWaitMs: number;
  /** Deliveries per message before it goes to the dead-letter channel; 0 = no limit. */
  maxDeliver: number;
  /** Delay before each redelivery (ms): entry n is used after the n-th failed attempt, the last repeats. */
  backoffMs: number[];
  /** Unacked deliveries at most, across all members. */
  maxInFlight: number;
  /** Where messages go after max deliver or term, with the reason in headers. */
  deadLetter: string;
}

/** A durable consumer's settings and where it stands (answer to consumer_create, consume). */
export interface ConsumerInfo extends ConsumerConfig {
  /** Next stream sequence it will look at. */
  cursor: number;
  /** Unacked deliveries. */
  pending: number;
  /** Connections bound to it. */
  members: number;
}

/** client → server: consumer_delete, stop. */
export interface ConsumerNameMeta {
  name: string;
}

/** client → server: bind this connection to a consumer as a (queue-group) member. */
export interface ConsumeMeta {
  name: string;
  /** Unacked deliveries to this connection at most (default: the consumer's maxInFlight). */
  maxInFlight?: number;
}

/** How a delivery is settled: done, redeliver (later), still working on it, give up on it. */
export const ACK_KINDS = ["ack", "nak", "progress", "term"] as const;
export type AckKind = typeof ACK_KINDS[number];

/** client → server: settle a delivery (`seq`), or several alike (`seqs`). */
export interface AckMeta {
  consumer: string;
  seq?: number;
  seqs?: number[];
  /** Default `ack`. */
  kind?: AckKind;
  /** With nak: redeliver after this many ms (default: the consumer's backoff). */
  delay?: number;
}

/** server → client: the answer to an ack; with `seqs`, those that could not be settled. */
export interface AckAnswer {
  failed?: { seq: number; code: ErrorCode; message: string }[];
}

/** client → server: the newest messages of a channel (or a pattern within one namespace). */
export interface HistoryMeta {
  channel: string;
  /** At most this many (default and cap: the server's `--max-history-limit`). */
  limit?: number;
  /** Only messages with a lower seq (a page before the one already read). */
  before?: number;
}

/** server → client: the ok after a history's message frames (oldest first). */
export interface HistoryResultMeta {
  epoch: string;
  /** Messages sent before this ok. */
  count: number;
  /** Pass as `before` for the next older page; absent when the start was reached. */
  next?: number;
}

/** One member of a channel's presence: a client id, with the `info` claim of its token. */
export interface PresenceMember {
  clientId: string;
  info?: unknown;
}

/** client → server: who is present on a channel. */
export interface PresenceMeta {
  channel: string;
}

/** server → client: the answer to presence. */
export interface PresenceResultMeta {
  channel: string;
  members: PresenceMember[];
}

export interface ErrorMeta {
  code: ErrorCode;
  message: string;
  /** The subscription an error is about, when there is one. */
  pattern?: string;
}

/** client → server: refresh, a new token for this connection (same client id). */
export interface RefreshMeta {
  token: string;
}

/** server → client: the answer to refresh. */
export interface RefreshedMeta {
  /** The new token's expiry (seconds since epoch), if it has one. */
  expiresAt?: number;
}

/** Unsolicited server → client notices. */
export type NoticeMeta =
  /**
   * Messages of `namespace` after position `after` were dropped for this connection (it read
   * too slowly: `slow_consumer`; resubscribing with `resume` replays them if the history still
   * holds them), or never reached the hub (its source reconnected: `unavailable`).
   */
  | {
    event: "gap";
    code: ErrorCode;
    namespace: string;
    epoch: string;
    after: number;
    recovered: false;
  }
  /**
   * A read grant was withdrawn: the subscription to `pattern` is gone or, with `consumer`,
   * this connection no longer consumes that durable consumer (whose pattern it is).
   */
  | {
    event: "revoked";
    code: ErrorCode;
    pattern: string;
    consumer?: string;
    message: string;
  }
  /** A publish sent without a request id (fire and forget) was refused. */
  | {
    event: "publish_failed";
    code: ErrorCode;
    message: string;
    channel: string;
  }
  /**
   * The connection's token expires at `expiresAt` (seconds since epoch): send refresh with a
   * new one before then, or the connection is closed with `unauthorized`.
   */
  | { event: "expiring"; expiresAt: number; message: string }
  /**
   * A client joined a channel's presence (its first connection there) or left it (its last one
   * went, or its presence TTL passed), to subscriptions made with `joinLeave`.
   */
  | { event: "join" | "leave"; channel: string; member: PresenceMember }
  /** An ack sent without a request id (fire and forget) was refused. */
  | {
    event: "ack_failed";
    code: ErrorCode;
    message: string;
    consumer: string;
    seq: number;
  };
