import { join } from "node:path";
import { writeFileAtomic } from "../../log/atomic-file.ts";
import type { Logger } from "../../core/logger.ts";
import { Journal } from "./journal.ts";
import { PulsarRecords } from "./records.ts";
import type { PulsarState, RecordChange } from "./record-types.ts";
import type { PulsarStateBackend } from "./store-backend.ts";

const SNAPSHOT = "state.json";
const JOURNAL = "journal.jsonl";
/** The journal is folded into the snapshot once it is this big and bigger than the snapshot. */
const COMPACT_MIN_BYTES = 256 * 1024;

/**
 * The records in the data directory (`DATA/pulsar/`, mode 600: it holds password hashes): a
 * change appends its records to `journal.jsonl` (one line per change, fsynced; answered once on
 * disk), and once the journal outgrows the snapshot `state.json` it is folded into it (written
 * atomically, then the journal emptied), so a change costs its own records, not the whole state.
 * `state.json` is the document earlier versions rewrote on every change: it opens as is.
 * Only this node writes, so memory is always the newest.
 */
export class FileStateBackend implements PulsarStateBackend {
  readonly local = true;
  readonly #snapshot: string;
  readonly #journalPath: string;
  readonly #log: Logger;
  #journal?: Journal;
  #records?: PulsarRecords;
  #snapshotBytes = 0;

  private constructor(dir: string, log: Logger) {
    this.#log = log;
    this.#snapshot = join(dir, SNAPSHOT);
    this.#journalPath = join(dir, JOURNAL);
  }

  static async open(dataDir: string, log: Logger = () => {}): Promise<FileStateBackend> {
    const dir = join(dataDir, "pulsar");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    return new FileStateBackend(dir, log);
  }

  /**
   * The snapshot with the journal replayed onto it. A crash between writing the snapshot and
   * emptying the journal replays lines the snapshot holds: each line carries whole values, so
   * replaying them again ends where they ended.
   */
  async load(): Promise<PulsarRecords> {
    const records = PulsarRecords.of(await this.#readSnapshot());
    const { journal, entries } = await Journal.open(this.#journalPath, () => this.#compact());
    for (const line of entries) for (const c of line as RecordChange[]) records.apply(c);
    this.#journal = journal;
    this.#records = records;
    return records;
  }

  async #readSnapshot(): Promise<PulsarState> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#snapshot);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return new PulsarRecords().state();
      throw e;
    }
    this.#snapshotBytes = text.length;
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Error(
        `${this.#snapshot} is not valid JSON (${(e as Error).message}); restore it from a backup`,
      );
    }
  }

  async write(
    changes: RecordChange[],
    _guard: unknown,
    apply: (changes: RecordChange[]) => void,
  ): Promise<boolean> {
    apply(changes);
    await this.#journal!.append(changes);
    return true;
  }

  onRemoteChange(): void {}

  /**
   * Runs after each journal write: folds a journal grown past the snapshot into it. A failure
   * loses nothing (the journal still holds every change) and is tried again after the next write.
   */
  async #compact(): Promise<void> {
    const journal = this.#journal!;
    if (journal.size < Math.max(COMPACT_MIN_BYTES, this.#snapshotBytes)) return;
    try {
      const bytes = new TextEncoder().encode(JSON.stringify(this.#records!.state()));
      await writeFileAtomic(this.#snapshot, bytes, { mode: 0o600 });
      this.#snapshotBytes = bytes.length;
      await journal.clear();
    } catch (e) {
      this.#log("warn", "pulsar store compaction failed; the journal keeps every change", {
        file: this.#snapshot,
        error: String(e),
      });
    }
  }

  async close(): Promise<void> {
    await this.#journal?.close();
  }
}
