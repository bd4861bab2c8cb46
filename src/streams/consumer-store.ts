import { join } from "node:path";
import { readSnapshot, writeSnapshot } from "../log/snapshot.ts";
import type { ConsumerState } from "./consumer.ts";
import type { ConsumerStore } from "./consumer-registry.ts";

const SUFFIX = ".snapshot";

/**
 * Consumer states as one small JSON snapshot per consumer in `DATA/consumers/`, each written
 * atomically (temp file, rename), so a crash leaves the previous state or the new one. With
 * `sync` (the server's `--fsync always`) each is fsynced before the ack it carries is answered;
 * otherwise, like the log's other policies, a machine crash (not a process crash) may lose the
 * newest acks, and those messages are delivered again.
 */
export class FileConsumerStore implements ConsumerStore {
  readonly #dir: string;
  readonly #sync: boolean;
  /** The directory exists (made once, not per save: there is a save per batch of acks). */
  #made = false;

  constructor(dataDir: string, options: { sync: boolean }) {
    this.#dir = join(dataDir, "consumers");
    this.#sync = options.sync;
  }

  async list(): Promise<ConsumerState[]> {
    const states: ConsumerState[] = [];
    try {
      for await (const e of Deno.readDir(this.#dir)) {
        if (!e.isFile || !e.name.endsWith(SUFFIX)) continue;
        const bytes = await readSnapshot(this.#dir, e.name.slice(0, -SUFFIX.length));
        if (bytes) states.push(JSON.parse(new TextDecoder().decode(bytes)));
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return states;
  }

  async save(state: ConsumerState): Promise<void> {
    if (!this.#made) await Deno.mkdir(this.#dir, { recursive: true });
    this.#made = true;
    const bytes = new TextEncoder().encode(JSON.stringify(state));
    try {
      await writeSnapshot(this.#dir, state.config.name, bytes, { sync: this.#sync });
    } catch (e) {
      this.#made = false; // the next save makes it again, should it have gone
      throw e;
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await Deno.remove(join(this.#dir, name + SUFFIX));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}
