import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { Broker } from "../core/broker.ts";
import type { BusMessage } from "../core/message.ts";
import { ACK_KINDS, type AckKind, type ConsumerConfig } from "../../client/shared/messages.ts";
import { namespaceOf } from "../../client/shared/subject.ts";
import { type Principal, requireGrant } from "../auth/grants.ts";
import { defaultDeadLetter, parseConsumerSpec } from "../streams/consumer-config.ts";
import type { Consumer, ConsumerMember, Delivery } from "../streams/consumer.ts";
import type { ConsumerRegistry } from "../streams/consumer-registry.ts";
import { checkPublish, openNamespace } from "./publish.ts";

/** What creating a consumer needs from the server (a door's services are one). */
export interface ConsumerCreation {
  consumers: ConsumerRegistry;
  broker: Broker;
  /** Refuses namespaces that may not be created (a declared list). */
  checkNamespace(name: string): Promise<void>;
}

/**
 * Dead letters are written with the creator's rights: it needs write on the channel (and create
 * for a new namespace, checked when it is opened). `$sys` takes only the default
 * `$sys.dlq.<name>`, which the server writes.
 */
function checkDeadLetter(principal: Principal, config: ConsumerConfig): void {
  const channel = config.deadLetter;
  if (channel === defaultDeadLetter(config.name)) return;
  if (namespaceOf(channel) === "$sys") {
    throw new CatbusError(
      ErrorCode.Forbidden,
      `dead-letter channel "${channel}" is in $sys, which the server writes; leave ` +
        `"deadLetter" out for the default ${defaultDeadLetter(config.name)}, or name a ` +
        "channel this token may write",
    );
  }
  checkPublish(principal, channel);
}

/**
 * Creates a consumer (or joins the one of that name with the same settings) under the rules of
 * every door: the spec checked as the wire gives it, `read` and `create` on its pattern, the
 * dead-letter rules, its namespaces opened (a consumer may come before the first message) by
 * the publish rule, and `--max-consumers`. `persist: false` makes one that is not saved (a
 * connection's own).
 */
export async function createConsumer(
  host: ConsumerCreation,
  principal: Principal,
  spec: unknown,
  options: { persist?: boolean } = {},
): Promise<Consumer> {
  const config = parseConsumerSpec(spec);
  requireGrant(principal, "read", config.pattern);
  requireGrant(principal, "create", config.pattern);
  checkDeadLetter(principal, config);
  await openNamespace(host.broker, principal, config.pattern, host.checkNamespace);
  await openNamespace(host.broker, principal, config.deadLetter, host.checkNamespace);
  return await host.consumers.create(config, options);
}

/** The settlement named by a client (`ack` when none); `field` is how the door spells it. */
export function parseAckKind(raw: unknown, field: string): AckKind {
  const kind = raw ?? "ack";
  if (!ACK_KINDS.includes(kind as AckKind)) {
    throw new CatbusError(ErrorCode.BadRequest, `${field} must be one of ${ACK_KINDS.join(", ")}`);
  }
  return kind as AckKind;
}

/** A connection's pace, as a consumer member sees it. */
export interface MemberPace {
  /** True while the connection holds as much as it should: no more deliveries for now. */
  congested(): boolean;
  /** Resolves when it has room again. */
  ready(): Promise<void>;
}

/**
 * A connection as a member of a consumer, in every door: deliveries are never dropped; the
 * consumer stops handing this member messages while the connection is congested and is woken
 * when it has room. Each delivery is reported to `delivered` (reply permits).
 */
export function pacedMember(
  consumer: Consumer,
  pace: MemberPace,
  send: (delivery: Delivery) => void,
  delivered: (message: BusMessage) => void,
): ConsumerMember {
  return {
    hasRoom: () => !pace.congested(),
    deliver: (d) => {
      send(d);
      delivered(d.message);
      if (pace.congested()) pace.ready().then(() => consumer.wake());
    },
  };
}
