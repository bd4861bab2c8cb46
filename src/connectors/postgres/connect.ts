import postgres from "postgres";
import { isCatbusError } from "../../../client/shared/errors.ts";

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;

/** postgres.js options, with `onnotify` (supported, missing from its types). */
export type PoolOptions = postgres.Options<Record<string, postgres.PostgresType>> & {
  onnotify?: (channel: string, payload: string) => void;
};

/** A PostgreSQL URL without its password, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(an unparsable database URL)";
  }
}

/**
 * A pool on `url`. `name` becomes the connection's `application_name`, so an operator (or a
 * test) can tell Catbus's connections apart in `pg_stat_activity`. Notices are not logged to
 * stdout (postgres.js's default), and connecting gives up after 5 s so callers can retry.
 */
export function openPool(
  url: string,
  name: string,
  options: PoolOptions = {},
): Sql {
  return postgres(url, {
    max: 4,
    connect_timeout: 5,
    onnotice: () => {},
    ...options,
    connection: { application_name: name, ...options.connection },
  });
}

/** Exponential back-off from 100 ms to 5 s, with jitter, for the `attempt`th retry (1-based). */
export const backoffMs = (attempt: number): number =>
  Math.min(5000, 100 * 2 ** Math.min(attempt - 1, 6)) * (0.75 + Math.random() / 2);

/** True for errors of reaching the server (refused, reset, timed out), not of a statement. */
export function isConnectionError(e: unknown): boolean {
  if (isCatbusError(e)) return false;
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== "string") return true;
  // SQLSTATE class 08 (connection exception), 57P01-57P03 (admin shutdown, crash, cannot connect now).
  return code.startsWith("08") || /^57P0[1-3]$/.test(code) || !/^[0-9A-Z]{5}$/.test(code);
}
