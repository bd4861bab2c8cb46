import { storageError } from "../../log/errors.ts";
import { CoalescedWriter } from "../../streams/coalesced-writer.ts";

const NEWLINE = 0x0a;

/**
 * An append-only file of JSON lines, one entry a line. An append is answered once its line is
 * fsynced; appends made during a write share the next one (one fsync for many). A line is
 * complete only with its newline and when it parses, so a crash mid-write leaves a torn last line
 * that `open` drops; damage anywhere else refuses to open.
 */
export class Journal {
  readonly path: string;
  readonly #file: Deno.FsFile;
  readonly #writer: CoalescedWriter;
  /** Lines not yet written; kept until a write of them succeeds. */
  #pending: string[] = [];
  /** Bytes of whole lines on disk. */
  #size: number;

  private constructor(
    path: string,
    file: Deno.FsFile,
    size: number,
    afterWrite: () => Promise<void>,
  ) {
    this.path = path;
    this.#file = file;
    this.#size = size;
    this.#writer = new CoalescedWriter(async () => {
      await this.#flush();
      await afterWrite();
    });
  }

  /**
   * Opens (creating) the journal at `path` and reads its entries. `afterWrite` runs after each
   * write, before the next (the owner compacts there: see `clear`).
   */
  static async open(
    path: string,
    afterWrite: () => Promise<void>,
  ): Promise<{ journal: Journal; entries: unknown[] }> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      bytes = new Uint8Array();
    }
    const { entries, whole } = parseLines(path, bytes);
    // Appending: every write lands at the end, also after a truncate.
    const file = await Deno.open(path, { append: true, create: true, mode: 0o600 });
    if (whole < bytes.length) {
      await file.truncate(whole); // the torn last line of a crash mid-write
      await file.syncData();
    }
    return { journal: new Journal(path, file, whole, afterWrite), entries };
  }

  get size(): number {
    return this.#size;
  }

  /** Resolves once `entry` (JSON-serialisable) is on disk. */
  append(entry: unknown): Promise<void> {
    this.#pending.push(JSON.stringify(entry) + "\n");
    return this.#writer.request();
  }

  /** Empties the file (its entries are in a snapshot now); only from `afterWrite`. */
  async clear(): Promise<void> {
    await this.#file.truncate(0);
    await this.#file.syncData();
    this.#size = 0;
  }

  async #flush(): Promise<void> {
    const count = this.#pending.length;
    const bytes = new TextEncoder().encode(this.#pending.join(""));
    try {
      for (let off = 0; off < bytes.length;) {
        off += await this.#file.write(bytes.subarray(off));
      }
      await this.#file.syncData();
    } catch (e) {
      // Cut what was half written, so the retry (the next append's write) starts on a line.
      await this.#file.truncate(this.#size).catch(() => {});
      throw storageError(e, this.path);
    }
    this.#pending.splice(0, count);
    this.#size += bytes.length;
  }

  async close(): Promise<void> {
    await this.#writer.idle();
    this.#file.close();
  }
}

/**
 * The entries of the whole lines and their length in bytes. The last line is torn when it lacks
 * its newline or does not parse (a crash before its fsync: it was never acknowledged); a line
 * before it that does not parse is damage.
 */
function parseLines(path: string, bytes: Uint8Array): { entries: unknown[]; whole: number } {
  const entries: unknown[] = [];
  let start = 0;
  for (let end; (end = bytes.indexOf(NEWLINE, start)) >= 0; start = end + 1) {
    try {
      entries.push(JSON.parse(new TextDecoder().decode(bytes.subarray(start, end))));
    } catch (e) {
      if (bytes.indexOf(NEWLINE, end + 1) < 0) break;
      throw new Error(
        `${path} line ${entries.length + 1} is damaged (${(e as Error).message}); restore the ` +
          `data directory's pulsar folder from a backup`,
      );
    }
  }
  return { entries, whole: start };
}
