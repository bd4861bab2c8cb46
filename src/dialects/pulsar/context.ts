import type { DoorServices } from "../door.ts";
import type { LoginFailures } from "./login-failures.ts";
import { forbidden, unauthorized } from "./http.ts";
import type { AccessClaims, AccessTokens } from "./jwt.ts";
import type { PulsarPermission, PulsarStore, UserRecord } from "./store.ts";
import { holds } from "./access.ts";
import type { PulsarDoorSettings } from "./settings.ts";
import type { PulsarLive } from "./live.ts";
import type { IdempotencyKeys } from "./idempotency.ts";
import type { PulsarMetrics } from "./metrics.ts";
import type { PollWaiters } from "./poll-waiters.ts";
import type { RateLimit } from "./rate-limits.ts";
import type { HttpRequest } from "../../transport/http-request.ts";

/** What every handler of the door is given. */
export interface PulsarContext {
  services: DoorServices;
  settings: PulsarDoorSettings;
  store: PulsarStore;
  tokens: AccessTokens;
  live: PulsarLive;
  idempotency: IdempotencyKeys;
  metrics: PulsarMetrics;
  polls: PollWaiters;
  /** WebSocket clients' acknowledged positions: user, client_id, topic → sequence. */
  acks: Map<string, number>;
  loginFailures: LoginFailures;
  /** Messages per user per minute (--pulsar-rate-limit-per-client). */
  userRate: RateLimit;
  /** Requests per client IP per minute (--pulsar-rate-limit-per-ip). */
  ipRate: RateLimit;
}

/** One request's authenticated caller. */
export interface Caller {
  user: UserRecord;
  claims: AccessClaims;
  token: string;
}

/** The bearer token of `Authorization: Bearer …`, as OAuth2PasswordBearer reads it. */
export function bearerToken(request: HttpRequest): string {
  const header = request.headers.get("authorization") ?? "";
  const match = /^bearer\s+(.+)$/i.exec(header.trim());
  if (!match) throw unauthorized("Not authenticated");
  return match[1];
}

/**
 * Token → user, re-read from the store (not the token's claims), so a permission change or a
 * deactivation counts at once; a logged-out token (its `jti` deny-listed) is refused.
 */
export async function callerOf(ctx: PulsarContext, token: string): Promise<Caller> {
  const claims = await ctx.tokens.verify(token);
  if (!claims) throw unauthorized("Invalid or expired token");
  if (claims.jti && ctx.store.isDenied(claims.jti)) throw unauthorized("Token has been revoked");
  const user = ctx.store.user(claims.sub);
  if (!user) throw unauthorized("User not found");
  if (!user.is_active) throw forbidden("User is inactive");
  return { user, claims, token };
}

export const authenticate = (ctx: PulsarContext, request: HttpRequest): Promise<Caller> =>
  callerOf(ctx, bearerToken(request));

export function requirePermission(user: UserRecord, permission: PulsarPermission): void {
  if (!holds(user, permission)) throw forbidden(`Permission '${permission}' required`);
}
