import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";

/** Splits `host:port` (or `[v6]:port`, or `:port`); returns undefined when malformed. */
export function parseAddress(
  address: string,
  source = "address",
): { hostname: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) {
    throw new CatbusError(ErrorCode.BadRequest, `${source}: port ${port} is out of range`);
  }
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}
