import { type Principal, requireGrant } from "../../auth/grants.ts";
import { CatbusError, ErrorCode } from "../../core/errors.ts";
import { isCatbusError } from "../../core/errors.ts";
import type { AckKind } from "../../streams/consumer.ts";
import { checkConsumerId, messageIdOf } from "./event.ts";
import type { BusBinding } from "./subscribe.ts";

const KINDS: readonly AckKind[] = ["ack", "nak", "term", "progress"];

/**
 * `PUT /?consumer_id=c_…&event_id=e_…`: settles a manual-ack delivery. Unlike the original's
 * blind 202, acking nothing is an error: 404 for an unknown consumer, 409 for an event that is
 * not awaiting this consumer's ack. Catbus adds `kind=nak|term|progress` (default ack). As a
 * native ack, it needs the read grant on the consumer's pattern.
 */
export async function ack(
  bindings: Map<string, BusBinding>,
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
  const kind = (url.searchParams.get("kind") ?? "ack") as AckKind;
  if (!KINDS.includes(kind)) {
    throw new CatbusError(ErrorCode.BadRequest, `kind must be one of ${KINDS.join(", ")}`);
  }
  const binding = bindings.get(consumerId);
  if (!binding) {
    throw new CatbusError(
      ErrorCode.NotFound,
      `no manual-ack subscription ${consumerId}: it ended, or used ack=none`,
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
