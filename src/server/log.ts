/**
 * A leveled logger writing one line per event to stderr or a file: `text` (`time level message
 * key=value…`) or `json` (one object per line: time, level, msg and the fields).
 */
import { LOG_LEVELS, type Logger, type LogLevel } from "../core/logger.ts";

export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = typeof LOG_FORMATS[number];

const textLine = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
  let line = `${new Date().toISOString()} ${level.padEnd(5)} ${message}`;
  for (const [k, v] of Object.entries(fields ?? {})) {
    line += ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`;
  }
  return line;
};

const jsonLine = (level: LogLevel, message: string, fields?: Record<string, unknown>) =>
  JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields });

export function createLogger(min: LogLevel, file?: string, format: LogFormat = "text"): Logger {
  const threshold = LOG_LEVELS.indexOf(min);
  const encoder = new TextEncoder();
  const out = file ? Deno.openSync(file, { append: true, create: true }) : Deno.stderr;
  const line = format === "json" ? jsonLine : textLine;
  return (level, message, fields) => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    out.writeSync(encoder.encode(line(level, message, fields) + "\n"));
  };
}
