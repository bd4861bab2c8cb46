import { join } from "node:path";
import { writeFileAtomic } from "../../log/atomic-file.ts";
import { CoalescedWriter } from "../../streams/coalesced-writer.ts";
import type { KeptAnswer } from "./idempotency.ts";

const FILE = "idempotency.jsonl";

/**
 * The answers of Idempotency-Keys in the data directory (`DATA/pulsar/idempotency.jsonl`, one
 * `{key, until, status, body}` a line), so a retry after a restart still gets the first answer
 * within its window. Appends are batched (one write for the answers of a burst); a publish is
 * answered once its line is written. The file is compacted at open and whenever it holds twice
 * as many lines as there are keys to keep.
 */
export class IdempotencyFile {
  readonly #path: string;
  readonly #writer: CoalescedWriter;
  #pending: string[] = [];
  #lines = 0;
  /** Set by the owner: the answers still to keep, for a compaction. */
  #live: () => Iterable<KeptAnswer> = () => [];
  #maxKeys: number;

  private constructor(path: string, maxKeys: number) {
    this.#path = path;
    this.#maxKeys = maxKeys;
    this.#writer = new CoalescedWriter(() => this.#flush());
  }

  /** Opens the file and returns it with its answers still within their window. */
  static async open(
    dataDir: string,
    maxKeys: number,
  ): Promise<{ file: IdempotencyFile; kept: KeptAnswer[] }> {
    const dir = join(dataDir, "pulsar");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const file = new IdempotencyFile(join(dir, FILE), maxKeys);
    let text = "";
    try {
      text = await Deno.readTextFile(file.#path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const now = Date.now();
    const byKey = new Map<string, KeptAnswer>();
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const kept = JSON.parse(line) as KeptAnswer;
        if (kept.until > now) byKey.set(kept.key, kept);
      } catch {
        // A line cut short by a crash mid-write: that answer was never given.
      }
    }
    const kept = [...byKey.values()].slice(-maxKeys);
    await file.#rewrite(kept);
    return { file, kept };
  }

  /** Where the live answers come from when the file is compacted. */
  compactFrom(live: () => Iterable<KeptAnswer>): void {
    this.#live = live;
  }

  /** Resolves once `kept` is written. */
  append(kept: KeptAnswer): Promise<void> {
    this.#pending.push(JSON.stringify(kept) + "\n");
    return this.#writer.request();
  }

  async #flush() {
    const lines = this.#pending;
    this.#pending = [];
    if (this.#lines + lines.length > 2 * this.#maxKeys) {
      await this.#rewrite(this.#live());
      return;
    }
    await Deno.writeTextFile(this.#path, lines.join(""), { append: true, mode: 0o600 });
    this.#lines += lines.length;
  }

  async #rewrite(kept: Iterable<KeptAnswer>) {
    const now = Date.now();
    const lines = [...kept].filter((k) => k.until > now).map((k) => JSON.stringify(k) + "\n");
    await writeFileAtomic(this.#path, new TextEncoder().encode(lines.join("")), { mode: 0o600 });
    this.#lines = lines.length;
  }

  close(): Promise<void> {
    return this.#writer.idle();
  }
}
