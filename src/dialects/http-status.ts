import { ErrorCode } from "../../client/shared/errors.ts";

/**
 * The HTTP status of each error code, for the HTTP doors (Bus, Pulsar Relay); a door whose
 * original answers differently overrides a code (Pulsar's validation errors are 422).
 */
export const HTTP_STATUS: Readonly<Record<string, number>> = {
  [ErrorCode.BadRequest]: 400,
  [ErrorCode.Unauthorized]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.TooLarge]: 413,
  [ErrorCode.LimitExceeded]: 429,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Timeout]: 504,
};
