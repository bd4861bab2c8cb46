import { parseChannel } from "../../../client/shared/subject.ts";

/** The Catbus namespace of PostgreSQL's channels: NOTIFY `orders` is the message `pg.orders`. */
export const PG_NAMESPACE = "pg";

/** Marks the messages the bridge published from a NOTIFY, so they are not sent back as one. */
export const ORIGIN_HEADER = "catbus-origin";
export const FROM_POSTGRES = "postgres";

/**
 * The Catbus channel of a PostgreSQL channel, or undefined when the name is none (it has a
 * space, an empty token, a wildcard): such channels are reachable through the Alle door only.
 */
export function catbusChannel(pgChannel: string): string | undefined {
  const name = `${PG_NAMESPACE}.${pgChannel}`;
  try {
    parseChannel(name);
  } catch {
    return undefined;
  }
  if (name.split(".").some((t) => t === "*" || t === ">")) return undefined;
  return name;
}
