import { type Principal, requireGrant } from "../../auth/grants.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { isCatbusError } from "../../../client/shared/errors.ts";
import { parseAckKind } from "../../access/consumers.ts";
import { checkConsumerId, messageIdOf } from "./event.ts";
import type { BusBinding } from "./subscribe.ts";

/**
 * `PUT /?consumer_id=c_…&event_id=e_…`: settles a manual-ack delivery. On a stream without
 * manual ack it is a no-op, as in the original (Bus's Go SDK acks every event it handles, a
 * responder before its reply). Unlike the original's blind 202, acking nothing on a manual-ack
 * stream is an error: 404 for an unknown consumer, 409 for an event that is not awaiting this
 * consumer's ack. Catbus adds `kind=nak|term|progress` (default ack). As a native ack, it needs
 * the read grant on the consumer's pattern, no-op or not.
 */
export async function ack(
  bindings: Map<string, BusBinding>,
  noAckStreams: Map<string, string>,
  url: URL,
  principal: Principal,
): Promise<void> {
  const consumerId = url.searchParams.get("consumer_id") ?? "";
  const eventId = url.searchParams.get("event_id") ?? "";
  if (!consumerId || !eventId) {
    throw new CatbusError(ErrorCode.BadRequest, "consumer_id and event_id are both required");
  }
  // A durable consumer's id is its name; per-stream consumers have c_ ids.
  if (!bindings.has(consumerId)) checkConsumerId(consumerId);
  const messageId = messageIdOf(eventId);
  const kind = parseAckKind(url.searchParams.get("kind") ?? undefined, "kind");
  const noAckPattern = noAckStreams.get(consumerId);
  if (noAckPattern !== undefined) return requireGrant(principal, "read", noAckPattern);
  const binding = bindings.get(consumerId);
  if (!binding) {
    throw new CatbusError(
      ErrorCode.NotFound,
      `no open subscription ${consumerId}: its stream ended (ack on the stream that got the event)`,
    );
  }
  requireGrant(principal, "read", binding.consumer.config.pattern);
  const seq = binding.awaiting.get(messageId);
  const notAwaiting = () =>
    new CatbusError(
      ErrorCode.Conflict,
      `event ${eventId} is not awaiting an ack from ${consumerId}: acked already, ` +
        "given up after redelivery_count attempts, or never delivered to it",
    );
  if (seq === undefined) throw notAwaiting();
  try {
    await binding.consumer.settle(seq, kind);
  } catch (e) {
    if (isCatbusError(e) && e.code === ErrorCode.NotFound) {
      binding.awaiting.delete(messageId);
      throw notAwaiting();
    }
    throw e;
  }
  // Only final settlements end the wait: a nak'd event comes back and is acked by the same id.
  if (kind === "ack" || kind === "term") binding.awaiting.delete(messageId);
}
