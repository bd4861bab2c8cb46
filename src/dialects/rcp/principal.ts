import type { Grant, Principal } from "../../auth/grants.ts";
import { SM_NAMESPACE } from "../../../client/shared/subject.ts";
import type { ClientIdentity } from "../../transport/tcp.ts";

/**
 * An RCP credential opens every RCP operation: the whole state-machine database. As grants that
 * is reading all of `sm` (every instance and its ctx); `sm` is written by the server only.
 */
const smGrants = (): Grant[] => [{ permission: "read", pattern: `${SM_NAMESPACE}.>` }];

/** A connection that sent a configured bearer token, named by the start of its hash. */
export const tokenPrincipal = (hash: string): Principal => ({
  clientId: `rcp-token-${hash.slice(0, 12)}`,
  kind: "rcp-token",
  grants: smGrants(),
});

/** A connection whose client certificate the listener verified (mTLS), named by its fingerprint. */
export const certificatePrincipal = (identity: ClientIdentity): Principal => ({
  clientId: `rcp-cert-${identity.fingerprint.slice(0, 12)}`,
  kind: "rcp-cert",
  grants: smGrants(),
});
