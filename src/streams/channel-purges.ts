import { join } from "node:path";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { PurgedChannels } from "../core/purged-channels.ts";
import { writeFileAtomic } from "../log/atomic-file.ts";

const FILE = "purges.json";

/**
 * A local stream's purged channels (`purges.json`): channel → the sequence it was purged
 * through. The log is append-only, so a purge is this tombstone, written atomically before the
 * purge is answered; every read of the stream skips what it covers, and the records go when
 * retention drops their segment. A tombstone no record is left under is forgotten then.
 */
export class ChannelPurges {
  readonly #path: string;
  readonly #purged: PurgedChannels;
  /** Writes one at a time, in the order made: a later state never loses to an earlier one. */
  #writing: Promise<void> = Promise.resolve();
  /** A write waiting for the one running: it will write the newest state, so saves join it. */
  #waiting?: Promise<void>;

  private constructor(path: string, purged: PurgedChannels) {
    this.#path = path;
    this.#purged = purged;
  }

  /** The tombstones kept in `dir` (none when it has no purges.json). */
  static async open(dir: string): Promise<ChannelPurges> {
    const path = join(dir, FILE);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return new ChannelPurges(path, new PurgedChannels());
      throw e;
    }
    try {
      const saved = JSON.parse(text);
      const purged = new PurgedChannels();
      for (const [channel, seq] of Object.entries(saved)) {
        if (typeof seq !== "number") throw new Error(`${channel}: ${seq} is not a sequence`);
        purged.add(channel, seq);
      }
      return new ChannelPurges(path, purged);
    } catch (e) {
      throw new CatbusError(
        ErrorCode.Internal,
        `${path} is damaged (${(e as Error).message}); it lists the channels purged from this ` +
          `stream (deleted topics): restore it from a backup, or delete it to let their old ` +
          `messages be read again`,
        { cause: e },
      );
    }
  }

  get size(): number {
    return this.#purged.size;
  }

  /** True when a purge removed the message `seq` of `channel`. */
  covers(channel: string, seq: number): boolean {
    return this.#purged.covers(channel, seq);
  }

  /** Records the purge of `channel` through `seq`; resolves once it is on disk. */
  add(channel: string, seq: number): Promise<void> {
    return this.#purged.add(channel, seq) ? this.#save() : this.#writing;
  }

  /** Forgets the tombstones below `firstSeq` (retention dropped every record they covered). */
  forgetBefore(firstSeq: number): Promise<void> {
    return this.#purged.forgetBefore(firstSeq) ? this.#save() : this.#writing;
  }

  /** Resolves once every write made is done (failed ones were answered to their purge). */
  settled(): Promise<void> {
    return this.#writing.catch(() => {});
  }

  #save(): Promise<void> {
    if (this.#waiting) return this.#waiting;
    const write = () => {
      this.#waiting = undefined;
      const state = JSON.stringify(Object.fromEntries(this.#purged.entries()));
      return writeFileAtomic(this.#path, new TextEncoder().encode(state + "\n"));
    };
    return this.#waiting = this.#writing = this.#writing.then(write, write);
  }
}
