import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { allows, type Grant, type Principal } from "../auth/grants.ts";

/** Something a live connection reads under its grants: a subscription, or a consumer's deliveries. */
export interface GrantedRead {
  pattern: string;
  /** The consumer it reads through, if any. */
  consumer?: string;
}

/** Why a read ended: the read grant for its pattern went. */
export const readRevoked = ({ pattern, consumer }: GrantedRead): CatbusError =>
  new CatbusError(
    ErrorCode.Revoked,
    `the read grant for "${pattern}" was revoked; ` +
      (consumer ? `consuming "${consumer}"` : "this subscription") + " has ended",
  );

/**
 * What every door does when a live connection's grants change (`LiveConnection.regrant`): the
 * principal takes the new grants, and each of its reads that `read` no longer covers is ended
 * by the door — in its own way (a notice, an error event) — with `readRevoked`'s error.
 * Revocation of the whole connection (a deleted role, an expired token) is the live-connection
 * registry's: it closes the connection.
 */
export function regrant<Read extends GrantedRead>(
  principal: Principal,
  grants: Grant[],
  reads: Iterable<Read>,
  end: (read: Read, error: CatbusError) => void,
): void {
  principal.grants = grants;
  for (const read of reads) {
    if (!allows(principal, "read", read.pattern)) end(read, readRevoked(read));
  }
}
