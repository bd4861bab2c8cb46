import { parseArgs } from "node:util";
import { SCHEMA_VERSION, schemaVersion } from "../auth/role-schema-postgres.ts";
import { openPool, redactUrl } from "../connectors/postgres/connect.ts";
import { cliContext, COMMON_OPTIONS, UsageError, withRoleStore } from "./context.ts";

/** The HTTP base of a server URL: ws(s)://h:p/ws → http(s)://h:p. */
export function httpBase(url: string): string {
  const u = new URL(url);
  if (u.protocol === "tcp:" || u.protocol === "tcps:") {
    throw new UsageError(
      "catbus status needs the HTTP/WebSocket URL (ws:// or http://), not tcp://",
    );
  }
  u.protocol = u.protocol === "wss:" || u.protocol === "https:" ? "https:" : "http:";
  return u.origin;
}

/** Connectivity, schema version and round-trip latency of the role database. */
async function databaseStatus(url: string): Promise<{ ok: boolean; detail: string }> {
  const sql = openPool(url, "catbus status", { max: 1 });
  const where = redactUrl(url);
  try {
    await sql`select 1`;
    const started = performance.now();
    await sql`select 1`;
    const latency = (performance.now() - started).toFixed(1);
    const version = await schemaVersion(sql);
    const schema = version === SCHEMA_VERSION
      ? `schema version ${version}`
      : version < SCHEMA_VERSION
      ? `schema version ${version}, expected ${SCHEMA_VERSION}: run \`catbus init\``
      : `schema version ${version} is newer than this catbus (${SCHEMA_VERSION}): upgrade it`;
    return {
      ok: version === SCHEMA_VERSION,
      detail: `${where} reachable, ${schema}, latency ${latency} ms`,
    };
  } catch (e) {
    return { ok: false, detail: `${where} unreachable: ${(e as Error).message}` };
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * `catbus status`: is the server up and ready, is the role store readable and, with
 * --database-url, the database reachable at the expected schema? Exit 1 if not.
 */
export async function statusCommand(
  args: string[],
  env: Record<string, string | undefined>,
) {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({
      args,
      options: { ...COMMON_OPTIONS, json: { type: "boolean" } },
      strict: true,
    })
      .values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const ctx = cliContext(values, env);
  const base = httpBase(ctx.url);
  const report: Record<string, { ok: boolean; detail: string }> = {};
  try {
    const res = await fetch(`${base}/ready`, {
      signal: AbortSignal.timeout(3000),
    });
    const body = await res.json();
    report.server = { ok: res.ok, detail: `${base} ${body.status}` };
  } catch (e) {
    report.server = {
      ok: false,
      detail: `${base} unreachable: ${(e as Error).message}`,
    };
  }
  if (ctx.databaseUrl) report.database = await databaseStatus(ctx.databaseUrl);
  try {
    const roles = await withRoleStore(ctx, (store) => store.list());
    report.store = {
      ok: true,
      detail: ctx.databaseUrl
        ? `PostgreSQL (${roles.length} roles)`
        : `${ctx.data} (embedded, ${roles.length} roles)`,
    };
  } catch (e) {
    report.store = {
      ok: false,
      detail: `${ctx.databaseUrl ? "PostgreSQL" : ctx.data}: ${(e as Error).message}`,
    };
  }
  if (values.json) console.log(JSON.stringify(report));
  else {
    for (const [name, r] of Object.entries(report)) {
      console.log(`${name}: ${r.ok ? "ok" : "FAILED"} — ${r.detail}`);
    }
  }
  if (!Object.values(report).every((r) => r.ok)) Deno.exit(1);
}
