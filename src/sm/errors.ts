/**
 * The error codes of rstmdb's RCP protocol, kept verbatim so its clients can match on them.
 * Every engine and protocol failure a client can see is an SmError with one of these.
 */
export const SmErrorCode = {
  UnsupportedProtocol: "UNSUPPORTED_PROTOCOL",
  BadRequest: "BAD_REQUEST",
  Unauthorized: "UNAUTHORIZED",
  AuthFailed: "AUTH_FAILED",
  NotFound: "NOT_FOUND",
  MachineNotFound: "MACHINE_NOT_FOUND",
  MachineVersionExists: "MACHINE_VERSION_EXISTS",
  MachineVersionLimitExceeded: "MACHINE_VERSION_LIMIT_EXCEEDED",
  InstanceNotFound: "INSTANCE_NOT_FOUND",
  InstanceExists: "INSTANCE_EXISTS",
  InvalidTransition: "INVALID_TRANSITION",
  GuardFailed: "GUARD_FAILED",
  Conflict: "CONFLICT",
  WalIoError: "WAL_IO_ERROR",
  InternalError: "INTERNAL_ERROR",
  RateLimited: "RATE_LIMITED",
} as const;

export type SmErrorCode = typeof SmErrorCode[keyof typeof SmErrorCode];

const RETRYABLE: ReadonlySet<SmErrorCode> = new Set([
  SmErrorCode.WalIoError,
  SmErrorCode.InternalError,
  SmErrorCode.RateLimited,
]);

/** The `error` object of an RCP response. */
export interface SmErrorBody {
  code: SmErrorCode;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

export class SmError extends Error {
  readonly code: SmErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(
    code: SmErrorCode,
    message: string,
    options?: { details?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, { cause: options?.cause });
    this.name = "SmError";
    this.code = code;
    this.details = options?.details;
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }

  toBody(): SmErrorBody {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** Any thrown value as an SmError: unexpected ones become INTERNAL_ERROR (retryable). */
export function toSmError(e: unknown): SmError {
  if (e instanceof SmError) return e;
  return new SmError(
    SmErrorCode.InternalError,
    `internal error: ${
      e instanceof Error ? e.message : String(e)
    }; retry, and report it if it repeats`,
    { cause: e },
  );
}

export const badRequest = (message: string, details?: Record<string, unknown>) =>
  new SmError(SmErrorCode.BadRequest, message, details ? { details } : undefined);
