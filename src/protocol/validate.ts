import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { PublishMeta } from "../../client/shared/messages.ts";

const MAX_HEADERS = 32;
const MAX_HEADER_BYTES = 4096;

const bad = (message: string) => new CatbusError(ErrorCode.BadRequest, message);

/** Headers are a small flat map of strings. */
export function parsePublishHeaders(
  value: unknown,
): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw bad("headers must be an object of string values");
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_HEADERS) {
    throw bad(`at most ${MAX_HEADERS} headers per message`);
  }
  let size = 0;
  for (const [k, v] of entries) {
    if (typeof v !== "string") throw bad(`header "${k}" must be a string`);
    size += k.length + v.length;
  }
  if (size > MAX_HEADER_BYTES) {
    throw bad(`headers may total at most ${MAX_HEADER_BYTES} bytes`);
  }
  return entries.length ? value as Record<string, string> : undefined;
}

/** The broker's publish options a publish's meta can set. */
export interface PublishOptions {
  key?: string;
  expiresAt?: number;
  replyBy?: number;
  confirm?: number;
  confirmTimeoutMs?: number;
}

/**
 * A publish's key, ttl and confirmation → the broker's publish options, set on `out` (the
 * publish input: no object of options made and copied per message, and most set none).
 */
export function parsePublishOptions(meta: PublishMeta, out: PublishOptions): void {
  if (meta.confirm !== undefined) {
    if (!Number.isSafeInteger(meta.confirm) || meta.confirm < 1 || meta.confirm > 1000) {
      throw bad('"confirm" must be the number of consumer acks to wait for, 1 to 1000');
    }
    out.confirm = meta.confirm;
  }
  if (meta.confirmTimeout !== undefined) {
    if (
      !Number.isSafeInteger(meta.confirmTimeout) || meta.confirmTimeout < 1 ||
      meta.confirmTimeout > 600_000
    ) {
      throw bad('"confirmTimeout" must be a whole number of ms from 1 to 600000');
    }
    out.confirmTimeoutMs = meta.confirmTimeout;
  }
  if (meta.key !== undefined) {
    if (typeof meta.key !== "string" || meta.key.length === 0 || meta.key.length > 256) {
      throw bad('"key" must be a string of 1 to 256 characters');
    }
    out.key = meta.key;
  }
  if (meta.ttl !== undefined) {
    if (!Number.isSafeInteger(meta.ttl) || meta.ttl < 1) {
      throw bad('"ttl" must be a whole number of ms ≥ 1');
    }
    out.expiresAt = Date.now() + meta.ttl;
  }
  if (meta.timeout !== undefined) {
    if (!Number.isSafeInteger(meta.timeout) || meta.timeout < 1 || meta.timeout > 600_000) {
      throw bad('"timeout" must be the request\'s timeout, a whole number of ms from 1 to 600000');
    }
    out.replyBy = Date.now() + meta.timeout;
  }
}
