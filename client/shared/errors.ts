/**
 * Stable error codes shared by every door. A code never changes meaning once shipped;
 * the message says what the user can do about it.
 */
export const ErrorCode = {
  BadRequest: "bad_request",
  Unauthorized: "unauthorized",
  Forbidden: "forbidden",
  NotFound: "not_found",
  TooLarge: "too_large",
  SlowConsumer: "slow_consumer",
  UnknownOp: "unknown_op",
  Revoked: "revoked",
  Timeout: "timeout",
  Unavailable: "unavailable",
  LimitExceeded: "limit_exceeded",
  Internal: "internal",
  /** The server is stopping: reconnect (to it once it is back, or to another one). */
  Shutdown: "shutdown",
  /** The request contradicts existing state (e.g. a consumer exists with another config). */
  Conflict: "conflict",
  /** A request was published but nobody subscribes to its channel. */
  NoResponders: "no_responders",
  /** Client side: the connection is gone and the request cannot complete. */
  Disconnected: "disconnected",
  /** Client side: too many publishes were queued while offline. */
  OfflineQueueFull: "offline_queue_full",
} as const;

export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** An error a client may see on the wire: a stable `code` plus a human message. */
export class CatbusError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CatbusError";
    this.code = code;
  }

  /**
   * What a client is told. The same as `message` unless the message holds details only the
   * operator should see (a server's file paths): then the server logs `message`.
   */
  get clientMessage(): string {
    return this.message;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.clientMessage };
  }
}

export const isCatbusError = (e: unknown): e is CatbusError => e instanceof CatbusError;
