import type { Authenticator } from "../../src/auth/authenticator.ts";
import type { Principal } from "../../src/auth/grants.ts";
import type { Broker } from "../../src/core/broker.ts";
import { PresenceRegistry } from "../../src/core/presence.ts";
import { ReplyPermits } from "../../src/core/replies.ts";
import type { SessionHost, SessionLimitsWithHistory } from "../../src/protocol/session.ts";
import type { ConsumerRegistry } from "../../src/streams/consumer-registry.ts";

/**
 * A native session's host for unit tests: `broker`, a hello that admits any token as
 * `principal`, and small limits (`limits` overrides them).
 */
export function sessionHost(
  broker: Broker,
  principal: Principal,
  limits: Partial<SessionLimitsWithHistory> = {},
): SessionHost {
  return {
    broker,
    consumers: {} as ConsumerRegistry,
    presence: new PresenceRegistry({ ttlMs: 60_000, maxMembers: 10 }),
    authenticator: { authenticate: () => Promise.resolve(principal) } as unknown as Authenticator,
    replies: new ReplyPermits({ windowMs: 1000, max: 100 }),
    limits: {
      maxPayload: 1 << 16,
      maxJsonDepth: 32,
      maxSubscriptions: 10,
      maxPublishRate: 0,
      maxPublishesInFlight: 1024,
      helloTimeoutMs: 5000,
      outboundBytes: 1 << 20,
      heartbeatMs: 5000,
      maxHistoryLimit: 100,
      maxHistoryScan: 1000,
      ...limits,
    },
    serverName: "test",
    checkNamespace: () => Promise.resolve(),
    admit: () => true,
    attach: () => {},
    detach: () => {},
    log: () => {},
  };
}
