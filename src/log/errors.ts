import { CatbusError, ErrorCode } from "../core/errors.ts";

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
}

/** The encryption secret does not match the data, or is missing or unexpected. */
export class LogKeyError extends CatbusError {
  constructor(message: string) {
    super(ErrorCode.Unauthorized, message);
    this.name = "LogKeyError";
  }
}
