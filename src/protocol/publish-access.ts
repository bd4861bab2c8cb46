import { allows, type Principal, requireGrant } from "../auth/grants.ts";
import type { Broker } from "../core/broker.ts";
import { CatbusError, ErrorCode } from "../core/errors.ts";
import {
  namespaceOf,
  parseChannel,
  SERVER_WRITTEN_NAMESPACES,
  SM_NAMESPACE,
} from "../core/subject.ts";

/**
 * May `principal` publish to `channel`? The channel must be concrete (no wildcards), outside
 * the namespaces the server writes (`$sys`, `sm`), and covered by a write grant. Shared by
 * every door that publishes.
 */
export function checkPublish(principal: Principal, channel: string): void {
  parseChannel(channel);
  const ns = namespaceOf(channel);
  if (SERVER_WRITTEN_NAMESPACES.has(ns)) {
    throw new CatbusError(
      ErrorCode.Forbidden,
      `the ${ns} namespace is written by the server only` +
        (ns === SM_NAMESPACE ? "; change state machines through RCP (catbus sm)" : ""),
    );
  }
  requireGrant(principal, "write", channel);
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
