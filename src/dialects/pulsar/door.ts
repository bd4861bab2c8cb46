import { cannotListen, displayHost, type Door, type DoorServices } from "../door.ts";
import { parseAddress } from "../../core/address.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import type { PulsarDoorSettings } from "./settings.ts";
import { PULSAR_NAMESPACE } from "./access.ts";
import { openPulsarStore } from "./store-open.ts";
import { AccessTokens, MIN_SECRET_LENGTH } from "./jwt.ts";
import { PulsarLive } from "./live.ts";
import { IdempotencyKeys } from "./idempotency.ts";
import { IdempotencyFile } from "./idempotency-file.ts";
import { PollWaiters } from "./poll-waiters.ts";
import { PulsarMetrics } from "./metrics.ts";
import { servePulsar } from "./server.ts";
import type { PulsarContext } from "./context.ts";
import { bootstrapAdmin } from "./bootstrap.ts";
import { LoginFailures } from "./login-failures.ts";
import { pulsarAdminRoutes } from "./admin-routes.ts";
import { RateLimit } from "./rate-limits.ts";

const refuse = (message: string) => new CatbusError(ErrorCode.BadRequest, message);

const SETTING = "--pulsar-max-messages-per-topic";

/**
 * `storage.max_messages_per_topic`: each topic keeps its newest messages (the original trims
 * its Valkey stream with MAXLEN). The stored ones are counted in the background.
 */
function capTopics(services: DoorServices, max: number): void {
  if (!max) return;
  const warn = (message: string, error: unknown, channel?: string) =>
    services.log("warn", message, { channel, error: String(error) });
  const counting = services.broker.capChannels(PULSAR_NAMESPACE, max, (channel, error) => {
    warn(
      `trimming a topic to ${SETTING} failed; its next trim covers those messages`,
      error,
      channel,
    );
  });
  counting.catch((e) => warn(`counting topics for ${SETTING} failed; they are trimmed late`, e));
}

/** The Pulsar Relay door: on when `--pulsar-bind` is set; needs `PULSAR_JWT_SECRET_KEY`. */
export const pulsarDoor: Door<PulsarDoorSettings> = {
  name: "pulsar",
  async start(settings, services) {
    if (!settings.pulsarBind) return undefined;
    const secret = settings.pulsarJwtSecret ?? "";
    if (secret.length < MIN_SECRET_LENGTH) {
      throw refuse(
        `${settings.origins.pulsarJwtSecret} must be at least ${MIN_SECRET_LENGTH} characters ` +
          `(got ${secret.length}); generate one with \`openssl rand -base64 48\``,
      );
    }
    const address = parseAddress(settings.pulsarBind, settings.origins.pulsarBind)!;
    await services.checkNamespace(PULSAR_NAMESPACE);
    if (!services.broker.namespace(PULSAR_NAMESPACE)) {
      await services.broker.createNamespace(PULSAR_NAMESPACE);
    }
    capTopics(services, settings.pulsarMaxMessagesPerTopic);
    const store = await openPulsarStore(settings, services.log);
    const answers = await IdempotencyFile.open(settings.data, settings.pulsarIdempotencyMaxKeys);
    const live = new PulsarLive(services.live, store);
    const polls = new PollWaiters();
    const metrics = new PulsarMetrics(services.metrics, {
      websockets: () => live.size,
      pollWaiters: () => polls.active,
      users: () => store.users().length,
      topics: () => store.topics().length,
    });
    const ctx: PulsarContext = {
      services,
      settings,
      store,
      tokens: new AccessTokens(secret, settings.pulsarTokenLifetimeMs),
      live,
      idempotency: new IdempotencyKeys(
        settings.pulsarIdempotencyWindowMs,
        settings.pulsarIdempotencyMaxKeys,
        answers.file,
        answers.kept,
      ),
      polls,
      metrics,
      acks: new Map(),
      loginFailures: new LoginFailures(settings.pulsarLoginFailuresPerMinute),
      userRate: new RateLimit(
        settings.pulsarRateLimitPerClient,
        "messages",
        () => metrics.rateLimited("user"),
      ),
      ipRate: new RateLimit(
        settings.pulsarRateLimitPerIp,
        "requests",
        () => metrics.rateLimited("ip"),
      ),
    };
    await bootstrapAdmin(ctx, services.log);
    let server;
    try {
      server = servePulsar(ctx, { ...address, ...services.tls });
    } catch (e) {
      throw cannotListen(settings.pulsarBind, settings.origins.pulsarBind, e);
    }
    return {
      url: `http${services.tls ? "s" : ""}://${displayHost(address.hostname)}:${server.port}`,
      adminRoutes: pulsarAdminRoutes(store),
      close: async () => {
        await server.close();
        await answers.file.close();
      },
    };
  },
};
