import { CatbusError, ErrorCode } from "../../../client/shared/errors.ts";

/** PostgreSQL's NAMEDATALEN - 1: longer identifiers are cut (LISTEN) or refused (pg_notify). */
export const MAX_IDENTIFIER_BYTES = 63;

/** NOTIFY refuses payloads of 8,000 bytes or more ("payload string too long"). */
export const MAX_NOTIFY_PAYLOAD_BYTES = 7999;

const encoder = new TextEncoder();

/** `name` as a quoted identifier: case kept, `"` doubled, so it is one name and nothing else. */
export const quoteIdentifier = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/**
 * Checks a LISTEN/NOTIFY channel name: 1 to 63 bytes, no NUL (which PostgreSQL cannot store).
 * The name is used exactly as given: `LISTEN "Orders"` and `pg_notify('Orders', …)` meet, and
 * an unquoted `NOTIFY Orders` from psql is `orders`.
 */
export function checkChannelName(name: unknown): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new CatbusError(ErrorCode.BadRequest, "a channel name is required");
  }
  if (name.includes("\0")) {
    throw new CatbusError(ErrorCode.BadRequest, "a channel name cannot contain NUL");
  }
  const bytes = encoder.encode(name).length;
  if (bytes > MAX_IDENTIFIER_BYTES) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `channel name is ${bytes} bytes; PostgreSQL allows at most ${MAX_IDENTIFIER_BYTES}`,
    );
  }
  return name;
}

/** Checks a NOTIFY payload before it reaches PostgreSQL (which would fail the statement). */
export function checkNotifyPayload(payload: unknown): string {
  if (typeof payload !== "string") {
    throw new CatbusError(ErrorCode.BadRequest, "payload must be a string");
  }
  const bytes = encoder.encode(payload).length;
  if (bytes > MAX_NOTIFY_PAYLOAD_BYTES) {
    throw new CatbusError(
      ErrorCode.TooLarge,
      `payload is ${bytes} bytes; PostgreSQL NOTIFY takes at most ${MAX_NOTIFY_PAYLOAD_BYTES}`,
    );
  }
  if (payload.includes("\0")) {
    throw new CatbusError(ErrorCode.BadRequest, "a NOTIFY payload cannot contain NUL");
  }
  return payload;
}
