import { allows, type Principal, requireGrant } from "../auth/grants.ts";
import type { Broker } from "../core/broker.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { isReplySubject, REPLY_TO_HEADER } from "../../client/shared/reply-subjects.ts";
import type { ReplyHolder } from "../core/replies.ts";
import {
  namespaceOf,
  parseChannel,
  SERVER_WRITTEN_NAMESPACES,
  SM_NAMESPACE,
} from "../../client/shared/subject.ts";

/**
 * May `principal` publish to `channel`? The channel must be concrete (no wildcards), outside
 * the namespaces the server writes (`$sys`, `sm`), and covered by a write grant; a reply
 * subject (`_inbox`, `_bus_`) takes instead a permit from a request delivered to this publisher,
 * used up here. Shared by every door that publishes; without `replies` (a dead-letter channel)
 * reply subjects are refused.
 */
export function checkPublish(principal: Principal, channel: string, replies?: ReplyHolder): void {
  parseChannel(channel);
  const ns = namespaceOf(channel);
  if (SERVER_WRITTEN_NAMESPACES.has(ns)) {
    throw new CatbusError(
      ErrorCode.Forbidden,
      `the ${ns} namespace is written by the server only` +
        (ns === SM_NAMESPACE ? "; change state machines through RCP (catbus sm)" : ""),
    );
  }
  if (isReplySubject(channel)) {
    if (principal.kind === "admin" || replies?.take(channel)) return;
    throw new CatbusError(
      ErrorCode.Forbidden,
      `"${channel}" is a reply subject: only a connection a request was delivered to may ` +
        "publish to it, once, before the request's timeout (at most --reply-window); answer " +
        "requests with respond() as they arrive",
    );
  }
  requireGrant(principal, "write", channel);
}

/**
 * A request's `reply_to` must be a reply subject the requester reads: its own
 * `_inbox.<clientId>.…` (as client.request() makes) or a `_bus_.…` inbox it may subscribe to.
 */
export function checkReplyTo(principal: Principal, headers?: Record<string, string>): void {
  const replyTo = headers?.[REPLY_TO_HEADER];
  if (replyTo === undefined) return;
  parseChannel(replyTo);
  if (!isReplySubject(replyTo)) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `reply_to "${replyTo}" is not a reply subject: replies go to _inbox.<clientId>.… ` +
        "(client.request() makes one) or to a Bus _bus_.… inbox",
    );
  }
  if (!allows(principal, "read", replyTo)) {
    throw new CatbusError(
      ErrorCode.Forbidden,
      `reply_to "${replyTo}" is not an inbox this connection may read; use ` +
        `_inbox.${principal.clientId}.… (client.request() does)`,
    );
  }
}

/**
 * Makes sure the channel's namespace exists: a principal with `create` on the channel brings
 * it into existence (if the declared-namespace policy allows it), anyone else gets not_found.
 */
export async function openNamespace(
  broker: Broker,
  principal: Principal,
  channel: string,
  checkNamespace: (name: string) => Promise<void>,
): Promise<void> {
  const ns = namespaceOf(channel);
  if (broker.namespace(ns)) return;
  if (!allows(principal, "create", channel)) {
    throw new CatbusError(
      ErrorCode.NotFound,
      `namespace "${ns}" does not exist; a token with create on "${channel}" brings it into ` +
        `existence on first publish (\`catbus grant -p create '${ns}.>'\`)`,
    );
  }
  await checkNamespace(ns);
  await broker.createNamespace(ns);
}
