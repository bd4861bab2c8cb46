import { join } from "node:path";
import { writeFileAtomic } from "../../log/atomic-file.ts";

/** Requeued dead letters remembered per consumer; past it the oldest are forgotten. */
const MAX_REQUEUED = 10_000;

interface Marks {
  /** Dead letters at or below this sequence were purged: the browser no longer shows them. */
  floor: number;
  /** Dead letters sent back to their channel. */
  requeued: number[];
}

/**
 * What the console did with each consumer's dead letters (`DATA/dead-letters.json`). The log
 * is append-only, so a purge hides what is there now (a floor), and a requeue is remembered so
 * the same letter is not requeued twice by accident.
 */
export class DeadLetterMarks {
  readonly #path: string;
  #marks?: Record<string, Marks>;

  constructor(dataDir: string) {
    this.#path = join(dataDir, "dead-letters.json");
  }

  async of(consumer: string): Promise<Marks> {
    const all = await this.#load();
    return all[consumer] ?? { floor: 0, requeued: [] };
  }

  async purge(consumer: string, upTo: number): Promise<void> {
    const marks = await this.of(consumer);
    await this.#save(consumer, { floor: Math.max(marks.floor, upTo), requeued: [] });
  }

  async requeued(consumer: string, seq: number): Promise<void> {
    const marks = await this.of(consumer);
    await this.#save(consumer, {
      floor: marks.floor,
      requeued: [...marks.requeued, seq].slice(-MAX_REQUEUED),
    });
  }

  async #load(): Promise<Record<string, Marks>> {
    if (this.#marks) return this.#marks;
    try {
      this.#marks = JSON.parse(await Deno.readTextFile(this.#path));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      this.#marks = {};
    }
    return this.#marks!;
  }

  async #save(consumer: string, marks: Marks) {
    const all = { ...await this.#load(), [consumer]: marks };
    await writeFileAtomic(this.#path, new TextEncoder().encode(JSON.stringify(all)));
    this.#marks = all;
  }
}
