/** Something that holds a file open and can close it when asked (a log's active segment). */
export interface FileHolder {
  release(): Promise<void>;
}

/**
 * A bound on the segment files held open over all the logs of a process. Each namespace's log
 * keeps its active segment open while it writes; past `max` open files the least recently used
 * one is closed, and its log opens it again on its next write. Without it the descriptors grew
 * with the count of namespaces until the server could not open a file any more.
 */
export class OpenFiles {
  readonly #max: number;
  /** Insertion order is use order: the first is the least recently used. */
  readonly #holders = new Set<FileHolder>();

  constructor(max: number) {
    this.#max = Math.max(1, max);
  }

  get size(): number {
    return this.#holders.size;
  }

  /** `holder` has its file open and just used it. */
  touch(holder: FileHolder): void {
    this.#holders.delete(holder);
    this.#holders.add(holder);
    if (this.#holders.size <= this.#max) return;
    const oldest = this.#holders.values().next().value!;
    this.#holders.delete(oldest);
    // It closes on its own write chain, after what it is writing; errors surface there.
    oldest.release().catch(() => {});
  }

  /** `holder` closed its file. */
  forget(holder: FileHolder): void {
    this.#holders.delete(holder);
  }
}
