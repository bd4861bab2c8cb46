import type { LiveNode, NodeChannels, RegistryListener } from "./node-channels.ts";
import { type EntryWrite, type NodeEntries, OwnEntries, RegistryMirror } from "./node-registry.ts";

/** What one heartbeat learnt: whether this node's listing was still there, and the live nodes. */
export interface Heartbeat {
  /** False when the listing had expired or was new: this node's entries must be written again. */
  kept: boolean;
  live: LiveNode[];
}

/**
 * The engine-neutral half of node channels: this node's entries and the mirror of the others',
 * the inbox's receivers, the advertised URLs, and a heartbeat every third of the TTL. An engine
 * supplies the storage steps — write this node's entries, read a node's, renew the listing, send
 * and leave — and hands its inbox bodies and change announcements to `deliver` and `changed`.
 */
export abstract class RegistryNodeChannels implements NodeChannels {
  readonly node: string;
  readonly #own: OwnEntries;
  readonly #others: RegistryMirror;
  readonly #receivers: ((from: string, body: Uint8Array) => void)[] = [];
  #advertised: string[];
  #live: LiveNode[];
  #urls: string[];
  readonly #timer: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(node: string, urls: readonly string[], ttlMs: number) {
    this.node = node;
    this.#advertised = [...urls];
    this.#urls = [...urls];
    this.#live = [{ node, urls: this.#urls }];
    this.#own = new OwnEntries((write) => this.writeEntries(write));
    this.#others = new RegistryMirror((other) => this.readEntries(other));
    this.#timer = setInterval(() => this.beat(), Math.max(50, Math.floor(ttlMs / 3)));
  }

  /** Stores a change set of this node's entries with a new version, and announces it. */
  protected abstract writeEntries(write: EntryWrite): Promise<void>;
  /** Reads node `node`'s entries and version. */
  protected abstract readEntries(node: string): Promise<NodeEntries>;
  /** Renews this node's listing with `urls` and reads the live nodes; undefined when unreachable. */
  protected abstract heartbeat(urls: readonly string[]): Promise<Heartbeat | undefined>;
  /** Removes this node's listing and entries and announces that it left. */
  protected abstract leave(): Promise<void>;
  abstract send(to: string, body: Uint8Array): Promise<void>;

  onMail(receive: (from: string, body: Uint8Array) => void): void {
    this.#receivers.push(receive);
  }

  /** A body arrived in this node's inbox from node `from`. */
  protected deliver(from: string, body: Uint8Array): void {
    for (const receive of this.#receivers) receive(from, body);
  }

  /** A change announcement: a line "node version", then the changes ("+e", "-e", "*" or "!"). */
  protected changed(announcement: string): void {
    const lines = announcement.split("\n");
    const [node, version] = lines[0].split(" ");
    if (node !== this.node) this.#others.changed(node, Number(version), lines.slice(1));
  }

  enter(entry: string, on: boolean): Promise<void> {
    return this.#own.enter(entry, on);
  }

  watch(listener: RegistryListener): void {
    this.#others.watch(listener);
  }

  urls(): readonly string[] {
    return this.#urls;
  }

  nodes(): readonly LiveNode[] {
    return this.#live;
  }

  advertise(urls: readonly string[]): Promise<void> {
    this.#advertised = [...urls];
    return this.beat();
  }

  /** The engine is back: this node's set is written again, the others' are read again. */
  resync(): void {
    void this.beat().then(() => {
      void this.#own.rewrite();
      this.#others.reloadAll();
    });
  }

  /** Renews this node's listing; learns which nodes are there and what they advertise. */
  protected async beat(): Promise<void> {
    if (this.#closed) return;
    const heard = await this.heartbeat(this.#advertised);
    if (!heard || this.#closed) return;
    if ((!heard.kept && this.#own.size > 0) || this.#own.stale) void this.#own.rewrite();
    this.#live = heard.live;
    this.#urls = heard.live.flatMap((n) => n.urls);
    this.#others.present(new Set(heard.live.map((n) => n.node).filter((n) => n !== this.node)));
  }

  /** Leaves the registry (the others drop this node at once) and stops renewing. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#others.close();
    clearInterval(this.#timer);
    try {
      await this.leave();
    } catch { /* unreachable: the listing expires */ }
  }
}
