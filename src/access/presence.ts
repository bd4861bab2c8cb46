import { type Principal, requireGrant } from "../auth/grants.ts";
import type { PresenceMember } from "../../client/shared/messages.ts";
import { parseChannel } from "../../client/shared/subject.ts";

/**
 * May `principal` see (or be part of) `channel`'s presence? A literal channel covered by a
 * read grant: presence is granted as subscribing is.
 */
export function authorizePresence(principal: Principal, channel: string): void {
  parseChannel(channel);
  requireGrant(principal, "read", channel);
}

/** How a principal appears to others in presence: its client id and its token's `info`. */
export const presenceMember = (principal: Principal): PresenceMember =>
  principal.info === undefined
    ? { clientId: principal.clientId }
    : { clientId: principal.clientId, info: principal.info };
