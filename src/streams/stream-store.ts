import { join } from "node:path";
import type { StorageProvider } from "../core/namespace.ts";
import type { LogOptions } from "../log/log.ts";
import { DurableStream, type RetentionPolicy } from "./durable-stream.ts";

/**
 * All namespaces' streams under `DATA/streams/<namespace>/`, one log each. Directory names are
 * URI-encoded namespace names, so any valid namespace maps to a safe file name.
 */
export class StreamStore implements StorageProvider {
  readonly #dir: string;
  readonly #logOptions: Omit<LogOptions, "dir">;
  readonly #open = new Map<string, Promise<DurableStream>>();
  readonly #retention?: RetentionPolicy;

  constructor(
    dataDir: string,
    logOptions: Omit<LogOptions, "dir" | "dataDir">,
    retention?: RetentionPolicy,
  ) {
    this.#dir = join(dataDir, "streams");
    this.#logOptions = { ...logOptions, dataDir };
    this.#retention = retention;
  }

  async list(): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(this.#dir)) {
        if (e.isDirectory) names.push(decodeURIComponent(e.name));
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return names.sort();
  }

  open(name: string): Promise<DurableStream> {
    let stream = this.#open.get(name);
    if (!stream) {
      const dir = join(this.#dir, encodeURIComponent(name));
      stream = DurableStream.open(dir, this.#logOptions, this.#retention);
      this.#open.set(name, stream);
      stream.catch(() => this.#open.delete(name));
    }
    return stream;
  }

  /** Applies the retention limits to every open stream (age needs this periodic pass). */
  async applyRetention(): Promise<void> {
    if (!this.#retention) return;
    for (const stream of this.#open.values()) await (await stream).applyRetention(this.#retention);
  }

  async close(): Promise<void> {
    for (const stream of this.#open.values()) await (await stream).close();
    this.#open.clear();
  }
}
