/** A leveled logger writing one line per event (`time level message key=value…`) to stderr or a file. */
import { LOG_LEVELS, type Logger, type LogLevel } from "../core/logger.ts";

export function createLogger(min: LogLevel, file?: string): Logger {
  const threshold = LOG_LEVELS.indexOf(min);
  const encoder = new TextEncoder();
  const out = file ? Deno.openSync(file, { append: true, create: true }) : Deno.stderr;
  return (level, message, fields) => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    let line = `${new Date().toISOString()} ${level.padEnd(5)} ${message}`;
    for (const [k, v] of Object.entries(fields ?? {})) {
      line += ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`;
    }
    out.writeSync(encoder.encode(line + "\n"));
  };
}
