import { formatGrant, type Grant, makeGrants } from "../auth/grants.ts";
import type { Role, RoleStore } from "../auth/role-store.ts";
import { FileRoleStore } from "../auth/role-store-file.ts";
import { signSubToken } from "../auth/tokens.ts";
import { ensureDataDir, loadOrCreateSecret } from "../server/data-dir.ts";
import { parseDuration } from "../core/units.ts";
import { migrate } from "../auth/role-schema-postgres.ts";
import { migrateSchema } from "../connectors/postgres/migrations.ts";
import { STREAMS_SCHEMA } from "../streams/postgres/schema.ts";
import { PULSAR_SCHEMA } from "../dialects/pulsar/store-postgres.ts";
import { openPool, redactUrl } from "../connectors/postgres/connect.ts";
import { cliContext, parseCommand, signingSecret, UsageError, withRoleStore } from "./context.ts";

type Env = Record<string, string | undefined>;
const print = (line = "") => console.log(line);

function grantLines(grants: Grant[]): string[] {
  return grants.length
    ? ["Grants:", ...grants.map((g) => `  ${formatGrant(g)}`)]
    : ["Grants: (none)"];
}

/** `catbus grant -p PERM… PATTERN… [--client-id ID] [--expires DURATION] [--to role-…]` */
export async function grantCommand(args: string[], env: Env): Promise<void> {
  const { values, positionals } = parseCommand(args, {
    permission: { type: "string", short: "p", multiple: true },
    "client-id": { type: "string" },
    expires: { type: "string" },
    to: { type: "string" },
  });
  const v = values as Record<string, unknown>;
  const permissions = (v.permission as string[] | undefined) ?? [];
  if (!permissions.length || !positionals.length) {
    throw new UsageError(
      "give at least one -p PERMISSION and one PATTERN, e.g. catbus grant -p all 'app.>'",
    );
  }
  const grants = makeGrants(permissions, positionals);
  const ctx = cliContext(v, env);
  if (v.to) {
    const role = await withRoleStore(ctx, (s) => s.addGrants(v.to as string, grants));
    printRole(role);
    return;
  }
  let expiresIn: number | undefined;
  if (v.expires !== undefined) {
    const ms = parseDuration(v.expires);
    if (!ms) {
      throw new UsageError(
        `--expires: expected a duration such as 1h or 30d, got "${v.expires}"`,
      );
    }
    expiresIn = Math.ceil(ms / 1000);
  }
  const clientId = (v["client-id"] as string | undefined) ??
    crypto.randomUUID();
  const token = await signSubToken(await signingSecret(ctx), {
    clientId,
    grants,
    expiresIn,
  });
  print(token);
  print(`Client ID: ${clientId}`);
  if (expiresIn !== undefined) {
    print(`Expires: ${new Date(Date.now() + expiresIn * 1000).toISOString()}`);
  }
  grantLines(grants).forEach((l) => print(l));
}

/** `catbus revoke -p PERM PATTERN… --from role-…` */
export async function revokeCommand(args: string[], env: Env): Promise<void> {
  const { values, positionals } = parseCommand(args, {
    permission: { type: "string", short: "p", multiple: true },
    from: { type: "string" },
  });
  const v = values as Record<string, unknown>;
  const permissions = (v.permission as string[] | undefined) ?? [];
  if (!permissions.length || !positionals.length || !v.from) {
    throw new UsageError(
      "usage: catbus revoke -p PERMISSION PATTERN… --from role-…",
    );
  }
  const grants = makeGrants(permissions, positionals);
  const role = await withRoleStore(
    cliContext(v, env),
    (s) => s.removeGrants(v.from as string, grants),
  );
  printRole(role);
}

function printRole(role: Role) {
  print(`Role: ${role.name}`);
  print(`ID: ${role.id}`);
  grantLines(role.grants).forEach((l) => print(l));
}

/** `catbus role create|show|list|delete` */
export async function roleCommand(args: string[], env: Env): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseCommand(rest, {
    name: { type: "string" },
    json: { type: "boolean" },
  });
  const v = values as Record<string, unknown>;
  await withRoleStore(cliContext(v, env), (store) => roleSubcommand(sub, v, positionals, store));
}

async function roleSubcommand(
  sub: string | undefined,
  v: Record<string, unknown>,
  positionals: string[],
  store: RoleStore,
): Promise<void> {
  const target = () => {
    if (!positionals[0]) {
      throw new UsageError(
        `usage: catbus role ${sub} ROLE (a role- token or role id)`,
      );
    }
    return positionals[0];
  };
  switch (sub) {
    case "create": {
      if (!v.name) {
        throw new UsageError('usage: catbus role create --name "Editor"');
      }
      if (store instanceof FileRoleStore) await ensureDataDir(store.dataDir);
      const { token, role } = await store.create(v.name as string);
      print(token);
      print(`Role: ${role.name}`);
      print(`ID: ${role.id}`);
      print(
        "Grants: (none) — add some with: catbus grant -p read 'app.>' --to " +
          token,
      );
      return;
    }
    case "show": {
      const role = await store.find(target());
      if (!role) {
        throw new UsageError(
          `role ${positionals[0]} not found; see catbus role list`,
        );
      }
      if (v.json) print(JSON.stringify(publicRole(role)));
      else printRole(role);
      return;
    }
    case "list": {
      const roles = await store.list();
      if (v.json) return print(JSON.stringify(roles.map(publicRole)));
      for (const r of roles) {
        print(`${r.id}\t${r.name}\t${r.grants.map(formatGrant).join(",")}`);
      }
      return;
    }
    case "delete": {
      const role = await store.delete(target());
      print(
        `Deleted role ${role.name} (${role.id}); its connections are closed within a second`,
      );
      return;
    }
    default:
      throw new UsageError(
        "usage: catbus role create --name N | show ROLE | list [--json] | delete ROLE",
      );
  }
}

const publicRole = (r: Role) => ({
  id: r.id,
  name: r.name,
  grants: r.grants,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

/**
 * `catbus init`: creates the data directory and signing secret of the embedded store; with
 * --database-url (or DATABASE_URL), also creates or migrates the PostgreSQL schema.
 */
export async function initCommand(args: string[], env: Env): Promise<void> {
  const { values } = parseCommand(args, {});
  const ctx = cliContext(values as Record<string, unknown>, env);
  await ensureDataDir(ctx.data);
  await loadOrCreateSecret(ctx.data);
  print(`Initialized ${ctx.data} (signing secret in ${ctx.data}/secret)`);
  if (!ctx.databaseUrl) return;
  const sql = openPool(ctx.databaseUrl, "catbus init", { max: 1 });
  try {
    const { from, to } = await migrate(sql);
    print(
      from === to
        ? `Database ${redactUrl(ctx.databaseUrl)}: schema at version ${to}, nothing to do`
        : `Database ${redactUrl(ctx.databaseUrl)}: schema migrated from version ${from} to ${to}`,
    );
    // The PostgreSQL stream engine's tables (--engine postgres), versioned on their own.
    const streams = await migrateSchema(sql, STREAMS_SCHEMA);
    if (streams.from !== streams.to) {
      print(`Streams schema migrated from version ${streams.from} to ${streams.to}`);
    }
    // The Pulsar door's users, topics and grants (docs/pulsar.md), versioned on their own.
    const pulsar = await migrateSchema(sql, PULSAR_SCHEMA);
    if (pulsar.from !== pulsar.to) {
      print(`Pulsar schema migrated from version ${pulsar.from} to ${pulsar.to}`);
    }
  } finally {
    await sql.end({ timeout: 1 });
  }
}
