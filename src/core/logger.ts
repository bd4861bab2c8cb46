/** How every part of the server reports an event: a level, a message and key=value fields. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

export type Logger = (
  level: LogLevel,
  message: string,
  fields?: Record<string, unknown>,
) => void;
