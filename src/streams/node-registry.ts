import type { RegistryListener } from "./node-channels.ts";

/** What an engine writes for this node: the changes of one turn, or (`all`) the whole set. */
export type EntryWrite = { ops: string[]; all?: undefined } | { all: string[]; ops?: undefined };

/**
 * This node's registry entries, engine-neutral: the changes of one turn go in one write
 * ("+entry" / "-entry"); after a failed write, or when the engine lost them, the next write
 * carries the whole set.
 */
export class OwnEntries {
  readonly #entries = new Set<string>();
  readonly #write: (write: EntryWrite) => Promise<void>;
  #queued: string[] = [];
  #flush?: Promise<void>;
  #rewrite = false;

  /** `write` stores a change set; a rejection means it may not have been stored. */
  constructor(write: (write: EntryWrite) => Promise<void>) {
    this.#write = write;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Resolves once the change is written (or failed: it is written again with the set). */
  enter(entry: string, on: boolean): Promise<void> {
    if (on === this.#entries.has(entry)) return Promise.resolve();
    if (on) this.#entries.add(entry);
    else this.#entries.delete(entry);
    this.#queued.push((on ? "+" : "-") + entry);
    return this.#schedule();
  }

  /** The engine may have lost this node's entries: the next write (now) carries all of them. */
  rewrite(): Promise<void> {
    this.#rewrite = true;
    return this.#schedule();
  }

  #schedule(): Promise<void> {
    return this.#flush ??= Promise.resolve().then(() => this.#run());
  }

  async #run(): Promise<void> {
    const ops = this.#queued;
    this.#queued = [];
    this.#flush = undefined;
    const all = this.#rewrite;
    this.#rewrite = false;
    try {
      await this.#write(all ? { all: [...this.#entries] } : { ops });
    } catch {
      this.#rewrite = true; // the next heartbeat or change writes the whole set
    }
  }

  /** True when a write failed and the set is still to be written again. */
  get stale(): boolean {
    return this.#rewrite;
  }
}

/** A node's entries as read from the engine, with the version of the last change in them. */
export interface NodeEntries {
  version: number;
  entries: ReadonlySet<string>;
}

/**
 * The other nodes' entries, engine-neutral: every change an engine announces carries its node's
 * version, and is applied only in order; a gap, a "*" (the whole set was written again), a node
 * first seen or a reconnect reads the node's entries again; changes heard during the read are
 * applied after it. "!" says the node left.
 */
export class RegistryMirror {
  readonly #read: (node: string) => Promise<NodeEntries>;
  readonly #listeners: RegistryListener[] = [];
  readonly #versions = new Map<string, number>();
  readonly #loading = new Map<string, { version: number; ops: string[] }[]>();
  #closed = false;

  constructor(read: (node: string) => Promise<NodeEntries>) {
    this.#read = read;
  }

  watch(listener: RegistryListener): void {
    this.#listeners.push(listener);
    for (const node of this.#versions.keys()) void this.#load(node);
  }

  /** A change `node` announced: its `version` and its ops ("+e", "-e", or "*" / "!"). */
  changed(node: string, version: number, ops: string[]): void {
    const pending = this.#loading.get(node);
    if (pending) return void pending.push({ version, ops });
    if (ops[0] === "!") return this.#gone(node);
    const known = this.#versions.get(node);
    if (known === undefined || version !== known + 1 || ops[0] === "*") {
      return void this.#load(node);
    }
    this.#versions.set(node, version);
    this.#apply(node, ops);
  }

  /** The live nodes (this one left out) as the engine lists them: new ones read, missing ones gone. */
  present(nodes: ReadonlySet<string>): void {
    for (const node of nodes) {
      if (!this.#versions.has(node) && !this.#loading.has(node)) void this.#load(node);
    }
    for (const node of [...this.#versions.keys()]) if (!nodes.has(node)) this.#gone(node);
  }

  /** After a reconnect: every known node's entries are read again. */
  reloadAll(): void {
    for (const node of this.#versions.keys()) void this.#load(node);
  }

  close(): void {
    this.#closed = true;
  }

  #gone(node: string): void {
    this.#versions.delete(node);
    for (const listener of this.#listeners) listener.gone(node);
  }

  #apply(node: string, ops: string[]): void {
    for (const op of ops) {
      for (const listener of this.#listeners) {
        if (op[0] === "+") listener.added(node, op.slice(1));
        else if (op[0] === "-") listener.removed(node, op.slice(1));
      }
    }
  }

  async #load(node: string): Promise<void> {
    if (this.#loading.has(node)) return;
    this.#loading.set(node, []);
    let read: NodeEntries;
    try {
      read = await this.#read(node);
    } catch {
      this.#loading.delete(node);
      return; // read again on the next change, heartbeat or reconnect
    }
    const pending = this.#loading.get(node)!;
    this.#loading.delete(node);
    if (this.#closed) return;
    let version = read.version;
    this.#versions.set(node, version);
    for (const listener of this.#listeners) listener.reset(node, read.entries);
    for (const change of pending.sort((a, b) => a.version - b.version)) {
      if (change.version <= version) continue;
      if (change.version !== version + 1 || change.ops[0] === "*" || change.ops[0] === "!") {
        return this.changed(node, change.version, change.ops);
      }
      this.#versions.set(node, version = change.version);
      this.#apply(node, change.ops);
    }
  }
}
