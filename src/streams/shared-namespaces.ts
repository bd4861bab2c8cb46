/**
 * A shared engine's namespaces on this node: one open per name (a failed open may be tried
 * again), and the names other nodes announced they created, which this node opens from their
 * epoch's base rather than from the head (it has seen none of their messages).
 */
export class SharedNamespaces<S> {
  readonly #streams = new Map<string, Promise<S>>();
  readonly #announced = new Set<string>();
  #created?: (name: string) => void;

  /**
   * The stream of `name`, opened by `make` the first time; `fromBase` is true when another
   * node announced the namespace before this one opened it.
   */
  open(name: string, make: (fromBase: boolean) => Promise<S>): Promise<S> {
    let stream = this.#streams.get(name);
    if (!stream) {
      stream = make(this.#announced.delete(name));
      this.#streams.set(name, stream);
      stream.catch(() => this.#streams.delete(name));
    }
    return stream;
  }

  /** Another node created `name`: the hub hears of it unless this node has it open. */
  announced(name: string): void {
    if (this.#streams.has(name)) return;
    this.#announced.add(name);
    this.#created?.(name);
  }

  /** `created` hears of every namespace another node creates from now on. */
  watch(created: (name: string) => void): void {
    this.#created = created;
  }

  clear(): void {
    this.#streams.clear();
  }
}
