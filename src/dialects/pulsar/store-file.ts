import { join } from "node:path";
import { writeFileAtomic } from "../../log/atomic-file.ts";
import { CoalescedWriter } from "../../streams/coalesced-writer.ts";
import { emptyState, type PulsarState, type PulsarStateBackend } from "./store-backend.ts";

const FILE = "state.json";

/**
 * The state in the data directory (`DATA/pulsar/state.json`, mode 600: it holds password hashes),
 * rewritten atomically on every change (changes made during a write share the next one); a change
 * is answered once it is on disk. Only this node writes it, so memory is always the newest state.
 */
export class FileStateBackend implements PulsarStateBackend {
  readonly #path: string;
  readonly #writer: CoalescedWriter;
  #snapshot: () => PulsarState = emptyState;

  private constructor(path: string) {
    this.#path = path;
    this.#writer = new CoalescedWriter(() => this.#write());
  }

  static async open(dataDir: string): Promise<FileStateBackend> {
    const dir = join(dataDir, "pulsar");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    return new FileStateBackend(join(dir, FILE));
  }

  async load(): Promise<PulsarState> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return emptyState();
      throw e;
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Error(
        `${this.#path} is not valid JSON (${(e as Error).message}); restore it from a backup`,
      );
    }
  }

  async update(
    change: (fresh: PulsarState | undefined) => Promise<void>,
    snapshot: () => PulsarState,
  ): Promise<void> {
    await change(undefined);
    this.#snapshot = snapshot;
    await this.#writer.request();
  }

  onRemoteChange(): void {}

  async #write() {
    const bytes = new TextEncoder().encode(JSON.stringify(this.#snapshot()));
    await writeFileAtomic(this.#path, bytes, { mode: 0o600 });
  }

  close(): Promise<void> {
    return this.#writer.idle();
  }
}
