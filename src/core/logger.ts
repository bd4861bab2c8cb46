/** How every part of the server reports an event: a level, a message and key=value fields. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

export type Logger = (
  level: LogLevel,
  message: string,
  fields?: Record<string, unknown>,
) => void;

/** A logger that adds `fields` to every line (a door's name, for every line its parts log). */
export const withFields =
  (log: Logger, fields: Record<string, unknown>): Logger => (level, message, more) =>
    log(level, message, { ...fields, ...more });
