/**
 * Where the client connects: the configured URLs (the first one first), and once a server
 * advertised its cluster's live nodes, those. Each round of attempts goes through every node
 * once, in random order after the first round, so a crowd of clients spreads over the nodes
 * and a dead node is not tried first by everyone.
 */
export class NodeList {
  readonly #configured: string[];
  #known: string[];
  /** The rest of this round, next one last. */
  #round: string[];
  readonly #random: () => number;

  constructor(url: string | string[], random: () => number = Math.random) {
    this.#configured = typeof url === "string" ? [url] : [...url];
    if (this.#configured.length === 0) {
      throw new TypeError("give the client at least one url");
    }
    this.#known = this.#configured;
    this.#round = [...this.#configured].reverse();
    this.#random = random;
  }

  /** The URL of the next attempt. */
  next(): string {
    if (this.#round.length === 0) this.#round = this.#shuffled();
    return this.#round.pop()!;
  }

  /**
   * Connected: the server's node list (when it sent one) becomes the nodes to try, and the
   * next attempt starts a new round.
   */
  advertised(nodes: unknown): void {
    const valid = Array.isArray(nodes) &&
      nodes.every((n) => typeof n === "string");
    this.#known = valid && nodes.length ? nodes : this.#configured;
    this.#round = [];
  }

  #shuffled(): string[] {
    const out = [...this.#known];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}
