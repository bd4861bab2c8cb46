import { type Principal, requireGrant } from "../auth/grants.ts";
import type { BusMessage } from "../core/message.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { OutboundQueue } from "../core/outbound-queue.ts";
import type { Consumer, ConsumerMember, Delivery } from "../streams/consumer.ts";
import type { ConsumerRegistry } from "../streams/consumer-registry.ts";
import {
  type AckAnswer,
  type AckMeta,
  type ConsumeMeta,
  type ConsumerInfo,
  type ConsumerNameMeta,
  type NoticeMeta,
} from "../../client/shared/messages.ts";
import {
  type ConsumerCreation,
  createConsumer,
  pacedMember,
  parseAckKind,
} from "../access/consumers.ts";
import type { GrantedRead } from "../access/regrant.ts";

/** What consumer operations need from the server (a `SessionHost` is one). */
export type ConsumerOpsHost = ConsumerCreation;

const bad = (message: string) => new CatbusError(ErrorCode.BadRequest, message);

const isSeq = (seq: unknown): seq is number => Number.isSafeInteger(seq) && (seq as number) >= 1;

function consumerName(meta: { name?: unknown; consumer?: unknown }): string {
  const name = meta.name ?? meta.consumer;
  if (typeof name !== "string" || name === "") throw bad("name the consumer");
  return name;
}

/**
 * The durable-consumer operations of one native connection: create/delete/list, bind as a
 * member (consume), stop, ack. Deliveries go through the connection's queue as control
 * frames (never dropped), each reported to `delivered` (reply permits); the consumer stops
 * sending while the queue is over half full.
 */
export class SessionConsumers {
  readonly #host: ConsumerOpsHost;
  readonly #registry: ConsumerRegistry;
  readonly #queue: OutboundQueue;
  readonly #encode: (d: Delivery) => Uint8Array;
  readonly #delivered: (m: BusMessage) => void;
  /** Made at the first consume (most connections never consume). */
  #members?: Map<string, { consumer: Consumer; member: ConsumerMember }>;

  constructor(
    host: ConsumerOpsHost,
    queue: OutboundQueue,
    encode: (d: Delivery) => Uint8Array,
    delivered: (m: BusMessage) => void,
  ) {
    this.#host = host;
    this.#registry = host.consumers;
    this.#queue = queue;
    this.#encode = encode;
    this.#delivered = delivered;
  }

  async create(principal: Principal, meta: unknown): Promise<ConsumerInfo> {
    return (await createConsumer(this.#host, principal, meta)).info();
  }

  async delete(principal: Principal, meta: ConsumerNameMeta): Promise<ConsumerNameMeta> {
    const consumer = this.#registry.require(consumerName(meta));
    requireGrant(principal, "create", consumer.config.pattern);
    await this.#registry.delete(consumer.name);
    this.#members?.delete(consumer.name);
    return { name: consumer.name };
  }

  list(principal: Principal): { consumers: ConsumerInfo[] } {
    const readable = this.#registry.list().filter((c) => {
      try {
        requireGrant(principal, "read", c.config.pattern);
        return true;
      } catch {
        return false;
      }
    });
    return { consumers: readable.map((c) => c.info()) };
  }

  /**
   * Binds the connection to a consumer. Returns its info and `start`, to call once the answer
   * is queued, so the first delivery never overtakes it.
   */
  consume(principal: Principal, meta: ConsumeMeta): { info: ConsumerInfo; start(): void } {
    const consumer = this.#readable(principal, consumerName(meta));
    const max = meta.maxInFlight;
    if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) {
      throw bad('"maxInFlight" must be a whole number ≥ 1');
    }
    if (this.#members?.has(consumer.name)) {
      throw new CatbusError(
        ErrorCode.Conflict,
        `this connection already consumes "${consumer.name}"; open another connection to ` +
          "add a queue-group member",
      );
    }
    const queue = this.#queue;
    const half = () => queue.maxBytes / 2;
    const member = pacedMember(
      consumer,
      { congested: () => queue.pendingBytes >= half(), ready: () => queue.drained(half()) },
      (d) => queue.push(this.#encode(d), false),
      this.#delivered,
    );
    (this.#members ??= new Map()).set(consumer.name, { consumer, member });
    return { info: consumer.info(), start: () => consumer.join(member, max) };
  }

  stop(meta: ConsumerNameMeta): ConsumerNameMeta {
    const name = consumerName(meta);
    const bound = this.#members?.get(name);
    if (!bound) {
      throw new CatbusError(ErrorCode.NotFound, `this connection does not consume "${name}"`);
    }
    this.#members!.delete(name);
    bound.consumer.leave(bound.member);
    return { name };
  }

  /**
   * Settles `seq`, or every one of `seqs` alike (one save for all): answered with those of
   * `seqs` that could not be settled, while a failing `seq` fails the request.
   */
  async ack(principal: Principal, meta: AckMeta): Promise<AckAnswer> {
    const consumer = this.#readable(principal, consumerName(meta));
    const kind = parseAckKind(meta.kind, '"kind"');
    const seqs: unknown = meta.seqs ?? [meta.seq];
    if (!Array.isArray(seqs) || seqs.length === 0 || !seqs.every(isSeq)) {
      throw bad('"seq" must be the delivery\'s seq, or "seqs" a list of them');
    }
    const delay = meta.delay;
    if (delay !== undefined && (!Number.isSafeInteger(delay) || delay < 0)) {
      throw bad('"delay" must be a whole number of ms ≥ 0');
    }
    const failed = await consumer.settleAll(seqs, kind, delay);
    if (meta.seqs === undefined && failed.length) throw failed[0].error;
    return failed.length
      ? { failed: failed.map(({ seq, error }) => ({ seq, ...error.toJSON() })) }
      : {};
  }

  /** An ack that wants no answer: each refusal comes back as an `ack_failed` notice. */
  ackQuietly(principal: Principal, meta: AckMeta, notice: (meta: NoticeMeta) => void): void {
    const refused = (seq: unknown, code: ErrorCode, message: string) =>
      notice({
        event: "ack_failed",
        code,
        message,
        consumer: String(meta.consumer),
        seq: Number(seq),
      });
    this.ack(principal, meta).then(
      ({ failed }) => failed?.forEach((f) => refused(f.seq, f.code, f.message)),
      (e) => {
        const err = e instanceof CatbusError ? e : new CatbusError(ErrorCode.Internal, String(e));
        const seqs = Array.isArray(meta.seqs) ? meta.seqs : [meta.seq];
        for (const seq of seqs) refused(seq, err.code, err.clientMessage);
      },
    );
  }

  /** The consumers this connection is bound to, as reads under its grants. */
  reads(): GrantedRead[] {
    return [...this.#members?.values() ?? []].map(({ consumer }) => ({
      pattern: consumer.config.pattern,
      consumer: consumer.name,
    }));
  }

  /** The connection ended: its unacked deliveries go to the other members. */
  leaveAll(): void {
    for (const { consumer, member } of this.#members?.values() ?? []) consumer.leave(member);
    this.#members = undefined;
  }

  #readable(principal: Principal, name: string): Consumer {
    const consumer = this.#registry.require(name);
    requireGrant(principal, "read", consumer.config.pattern);
    return consumer;
  }
}
