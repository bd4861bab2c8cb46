/**
 * Runs `write` whenever asked, but never two at once: requests made while a write is running
 * are served together by one more write. The promise of a request resolves once a write that
 * started after the request has finished, so "saved" means saved with that change.
 */
export class CoalescedWriter {
  readonly #write: () => Promise<void>;
  #running?: Promise<void>;
  #dirty = false;

  constructor(write: () => Promise<void>) {
    this.#write = write;
  }

  request(): Promise<void> {
    this.#dirty = true;
    return this.#running ??= this.#loop();
  }

  /** Resolves when nothing is left to write (for shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running.catch(() => {});
  }

  async #loop(): Promise<void> {
    try {
      while (this.#dirty) {
        this.#dirty = false;
        try {
          await this.#write();
        } catch (e) {
          this.#dirty = true; // the next request retries
          throw e;
        }
      }
    } finally {
      // Inside the async function, so no request can slip in between the last check and this.
      this.#running = undefined;
    }
  }
}
