import { parseArgs } from "node:util";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { RoleStore } from "../auth/role-store.ts";
import { readSecret } from "../server/data-dir.ts";
import { DEFAULTS } from "../server/config.ts";
import { openRoleStore } from "../server/role-store.ts";

/** Settings every `catbus` command may use: flag > environment > default. */
export interface CliContext {
  data: string;
  url: string;
  token?: string;
  secretFlag?: string;
  /** Roles in PostgreSQL rather than DATA/roles.json. */
  databaseUrl?: string;
  env: Record<string, string | undefined>;
}

export const COMMON_OPTIONS = {
  data: { type: "string" },
  url: { type: "string" },
  token: { type: "string" },
  secret: { type: "string" },
  "database-url": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export function cliContext(
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
): CliContext {
  const bind = env.CATBUS_BIND ?? DEFAULTS.bind;
  const port = bind.slice(bind.lastIndexOf(":") + 1);
  return {
    data: (values.data as string) ?? env.CATBUS_DATA ?? DEFAULTS.data,
    url: (values.url as string) ?? env.CATBUS_URL ?? `ws://127.0.0.1:${port}`,
    token: (values.token as string) ?? env.CATBUS_TOKEN,
    secretFlag: (values.secret as string) ?? env.CATBUS_SECRET,
    databaseUrl: (values["database-url"] as string) ?? env.CATBUS_DATABASE_URL ??
      env.DATABASE_URL,
    env,
  };
}

/** The signing secret: --secret / CATBUS_SECRET, else the one catbusd created in DATA/secret. */
export async function signingSecret(ctx: CliContext): Promise<string> {
  const secret = ctx.secretFlag ?? await readSecret(ctx.data);
  if (!secret) {
    throw new CatbusError(
      ErrorCode.NotFound,
      `no signing secret: pass --secret or CATBUS_SECRET, or start catbusd once with --data ${ctx.data} ` +
        "(it creates one), or run `catbus init`",
    );
  }
  return secret;
}

/**
 * Runs `use` on the server's role store, as catbusd picks it: PostgreSQL with --database-url
 * (CATBUS_DATABASE_URL, DATABASE_URL); Valkey when CATBUS_ENGINE=valkey (CATBUS_VALKEY_URL or
 * VALKEY_URL, CATBUS_VALKEY_PREFIX, CATBUS_VALKEY_CLUSTER); else DATA/roles.json.
 */
export async function withRoleStore<T>(
  ctx: CliContext,
  use: (store: RoleStore) => Promise<T>,
): Promise<T> {
  const env = ctx.env;
  const store = openRoleStore({
    databaseUrl: ctx.databaseUrl,
    engine: env.CATBUS_ENGINE ?? DEFAULTS.engine,
    valkeyUrl: env.CATBUS_VALKEY_URL ?? env.VALKEY_URL ?? DEFAULTS.valkeyUrl,
    valkeyPrefix: env.CATBUS_VALKEY_PREFIX ?? DEFAULTS.valkeyPrefix,
    valkeyCluster: ["1", "true"].includes(env.CATBUS_VALKEY_CLUSTER ?? ""),
    data: ctx.data,
  });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/** Usage errors exit 2; everything else a command throws exits 1. */
export class UsageError extends Error {}

/** Parses a command's arguments (common options plus its own); bad ones are usage errors. */
export function parseCommand(args: string[], options: Record<string, unknown>) {
  try {
    return parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...options } as never,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
