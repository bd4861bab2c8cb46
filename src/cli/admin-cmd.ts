import { CatbusError } from "../../client/shared/errors.ts";
import { cliContext, parseCommand, UsageError } from "./context.ts";
import { httpBase } from "./status-cmd.ts";

const METHODS = ["GET", "POST", "DELETE"];

/**
 * `catbus admin METHOD PATH [JSON]`: one call of the admin HTTP API (docs/admin-api.md), the one
 * the web console uses, with the admin key (`--token` or CATBUS_TOKEN). Prints the JSON answer.
 */
export async function adminCommand(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<void> {
  const { values, positionals } = parseCommand(args, {});
  const [method, path, body] = positionals;
  if (!METHODS.includes(method?.toUpperCase()) || !path?.startsWith("/")) {
    throw new UsageError(
      "usage: catbus admin GET|POST|DELETE /PATH [JSON], e.g. catbus admin GET /connections?door=native",
    );
  }
  const ctx = cliContext(values, env);
  if (!ctx.token) {
    throw new UsageError("the admin API needs the admin key: --token or CATBUS_TOKEN");
  }
  const response = await fetch(`${httpBase(ctx.url)}/admin/api${path}`, {
    method: method.toUpperCase(),
    headers: {
      authorization: `Bearer ${ctx.token}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  const answer = await response.json();
  if (!response.ok) throw new CatbusError(answer.code, answer.message);
  console.log(JSON.stringify(answer, null, 2));
}
