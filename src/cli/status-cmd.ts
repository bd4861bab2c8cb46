import { parseArgs } from "node:util";
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

/** `catbus status`: is the server up and ready, and is the role store readable? Exit 1 if not. */
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
  try {
    const roles = await withRoleStore(ctx, (store) => store.list());
    report.store = {
      ok: true,
      detail: `${ctx.data} (embedded, ${roles.length} roles)`,
    };
  } catch (e) {
    report.store = {
      ok: false,
      detail: `${ctx.data}: ${(e as Error).message}`,
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
