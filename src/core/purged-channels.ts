/**
 * Channels purged through a sequence (see EngineStream.purgeChannel): channel → the newest
 * sequence the purge removed. Readers skip what it covers wherever the messages still are (the
 * hub's memory, a log segment retention has not dropped yet).
 */
export class PurgedChannels {
  readonly #through = new Map<string, number>();

  get size(): number {
    return this.#through.size;
  }

  /** True when a purge removed the message `seq` of `channel`. */
  covers(channel: string, seq: number): boolean {
    if (!this.#through.size) return false;
    const through = this.#through.get(channel);
    return through !== undefined && seq <= through;
  }

  /** Records a purge of `channel` through `seq`; false when an earlier one already covers it. */
  add(channel: string, seq: number): boolean {
    if (seq <= (this.#through.get(channel) ?? 0)) return false;
    this.#through.set(channel, seq);
    return true;
  }

  /** Forgets the purges through sequences below `seq`; true when one was forgotten. */
  forgetBefore(seq: number): boolean {
    let forgot = false;
    for (const [channel, through] of this.#through) {
      if (through < seq) forgot = this.#through.delete(channel) || forgot;
    }
    return forgot;
  }

  entries(): IterableIterator<[string, number]> {
    return this.#through.entries();
  }
}
