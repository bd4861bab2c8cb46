import { cannotListen, displayHost, type Door } from "../door.ts";
import { parseAddress } from "../../core/address.ts";
import type { SettingOrigins, SettingsOf } from "../../core/settings.ts";
import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";
import { openPool, type Sql } from "../../connectors/postgres/connect.ts";
import type { alleSettings } from "./settings.ts";
import { type AlleAuth, checkAuthFunctionName } from "./auth.ts";
import { AlleBridge } from "./bridge.ts";
import { CatbusLink } from "./catbus-link.ts";
import { AdvisoryLock } from "../../connectors/postgres/advisory-lock.ts";
import type { Logger } from "../../core/logger.ts";
import { serveAlle } from "./server.ts";
import { alleAdminRoutes } from "./admin-routes.ts";

/** The server settings the Alle door reads: its own table, the role database, shared limits. */
export type AlleDoorSettings = SettingsOf<typeof alleSettings.settings> & {
  databaseUrl?: string;
  outboundBytes: number;
  maxPayload: number;
  maxJsonDepth: number;
  maxPublishRate: number;
  origins: SettingOrigins<keyof typeof alleSettings.settings>;
};

/** The Alle door (WebSocket/SSE ⇄ PostgreSQL LISTEN/NOTIFY): on when `--alle-bind` is set. */
export const alleDoor: Door<AlleDoorSettings> = {
  name: "alle",
  async start(settings, services) {
    if (!settings.alleBind) return undefined;
    const postgresUrl = settings.alleDatabaseUrl ?? settings.databaseUrl;
    if (!postgresUrl) {
      throw new CatbusError(
        ErrorCode.BadRequest,
        `${settings.origins.alleBind} needs a database: --alle-postgres-url (POSTGRES_URL) or ` +
          "--database-url",
      );
    }
    const address = parseAddress(settings.alleBind, settings.origins.alleBind)!;
    let authSql: Sql | undefined;
    let auth: AlleAuth = { mode: "open" };
    if (settings.alleAuthFunction) {
      const name = checkAuthFunctionName(
        settings.alleAuthFunction,
        settings.origins.alleAuthFunction,
      );
      authSql = openPool(postgresUrl, "catbusd alle auth");
      auth = { mode: "function", name, sql: authSql };
    } else if (settings.alleAuth === "token") {
      auth = { mode: "token", authenticator: services.authenticator };
    }
    const link = new CatbusLink(services.broker, services.log);
    const bridge = AlleBridge.open({
      postgresUrl,
      channels: settings.alleListenChannels,
      applicationName: `catbusd ${Deno.pid} alle`,
      log: services.log,
      onNotification: link.fromPostgres,
      onGap: link.gap,
    });
    await link.start(bridge);
    bridge.ready.then(
      () => services.log("info", "alle: connected to PostgreSQL"),
      () => {},
    );
    const lock = settings.allePersist && services.sharedStorage
      ? storingLock(postgresUrl, link, services.log)
      : undefined;
    let http;
    try {
      http = serveAlle({
        ...address,
        ...services.tls,
        door: services.admission,
        http: services.http,
      }, {
        bridge,
        auth,
        live: services.live,
        replies: services.replies,
        log: services.log,
        limits: {
          outboundBytes: settings.outboundBytes,
          maxPayload: settings.maxPayload,
          maxJsonDepth: settings.maxJsonDepth,
          maxPublishRate: settings.maxPublishRate,
        },
      });
    } catch (e) {
      link.stop();
      await lock?.close();
      await bridge.close();
      await authSql?.end({ timeout: 1 });
      throw cannotListen(settings.alleBind, settings.origins.alleBind, e);
    }
    return {
      url: `ws${services.tls ? "s" : ""}://${displayHost(address.hostname)}:${http.port}`,
      adminRoutes: alleAdminRoutes(bridge),
      async close() {
        await http.shutdown();
        link.stop();
        await lock?.close();
        await bridge.close();
        await authSql?.end({ timeout: 1 });
      },
    };
  },
};

/** Every node of a shared engine with --alle-persist asks for it; its holder stores NOTIFYs. */
const STORING_LOCK = "catbus alle persist";

/**
 * Makes `link` join `pg` and PostgreSQL only while this node holds the advisory lock, so one node
 * of those sharing the engine stores each NOTIFY; when it dies, another takes over within a
 * second (what is notified in between is not stored).
 */
function storingLock(url: string, link: CatbusLink, log: Logger): AdvisoryLock {
  link.joining = false;
  const lock = new AdvisoryLock(url, `catbusd ${Deno.pid} alle persist`, {
    name: STORING_LOCK,
    intervalMs: 1000,
    acquired() {
      link.joining = true;
      log("info", "alle: this node stores the PostgreSQL notifications (it holds the lock)");
    },
    lost() {
      link.joining = false;
      log("warn", "alle: this node lost the storing lock; another node stores notifications");
    },
  });
  lock.start();
  return lock;
}
