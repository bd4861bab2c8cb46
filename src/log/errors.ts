import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";

/** A log that cannot be opened as is: damage in the middle, not a torn tail. */
export class LogCorruptionError extends CatbusError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, reason: string, dataDir?: string) {
    super(
      ErrorCode.Internal,
      `log corrupted in ${file} at byte ${offset} (${reason}); valid data follows, so it was not ` +
        `cut off. Run \`catbus repair${
          dataDir ? ` --data ${dataDir}` : ""
        }\` to keep every valid ` +
        `record and set the damaged bytes aside`,
    );
    this.name = "LogCorruptionError";
    this.file = file;
    this.offset = offset;
  }

  override get clientMessage(): string {
    return "stored messages are damaged; the server log names the place (the operator runs " +
      "`catbus debug`)";
  }
}

/** The encryption secret does not match the data, or is missing or unexpected. */
export class LogKeyError extends CatbusError {
  constructor(message: string) {
    super(ErrorCode.Unauthorized, message);
    this.name = "LogKeyError";
  }
}

/** The disk (or quota) is full: a `unavailable` the caller may retry once space is freed. */
export class DiskFullError extends CatbusError {
  readonly file: string;
  constructor(file: string, options?: { cause?: unknown }) {
    super(
      ErrorCode.Unavailable,
      `disk full: cannot write ${file}; free space on that disk — writes resume by themselves, ` +
        `no restart needed`,
      options,
    );
    this.name = "DiskFullError";
    this.file = file;
  }

  override get clientMessage(): string {
    return "disk full on the server: nothing was stored; retry once space is freed";
  }
}

const FULL = new Set(["ENOSPC", "EDQUOT"]);

/** `e` as the error to show for a failed write of `file`: disk full becomes a DiskFullError. */
export function storageError(e: unknown, file: string): unknown {
  if (e instanceof CatbusError) return e;
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && FULL.has(code) ? new DiskFullError(file, { cause: e }) : e;
}

/**
 * Acknowledged records are gone: a segment file is missing, or the log ends below the highest
 * sequence it ever acknowledged. Reads across the range fail with this instead of skipping it.
 */
export class LogGapError extends CatbusError {
  readonly fromSeq: number;
  readonly toSeq: number;
  constructor(dir: string, fromSeq: number, toSeq: number, reason: string) {
    super(
      ErrorCode.Internal,
      `log ${dir} is missing records ${fromSeq}–${toSeq} (${reason}); restore the missing ` +
        `segment from a backup, or run \`catbus repair\` to accept the loss`,
    );
    this.name = "LogGapError";
    this.fromSeq = fromSeq;
    this.toSeq = toSeq;
  }

  override get clientMessage(): string {
    return `stored messages ${this.fromSeq}–${this.toSeq} are missing; the server log says ` +
      "what to do";
  }
}
