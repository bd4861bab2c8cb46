import { createHash } from "node:crypto";
import { join } from "node:path";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { StreamEngine, StreamListener } from "../core/stream-engine.ts";
import type { LogOptions } from "../log/log.ts";
import type { LogLoss } from "../log/log-state.ts";
import { OpenFiles } from "../log/open-files.ts";
import { DurableStream, type RetentionPolicy } from "./durable-stream.ts";
import { readStreamMeta } from "./stream-meta.ts";

export interface StreamStoreOptions {
  retention?: RetentionPolicy;
  /** Most stored namespaces; creating one more fails with `limit_exceeded` (0 = no limit). */
  maxNamespaces?: number;
  /** Most segment files held open over all namespaces (0 = no bound). */
  maxOpenFiles?: number;
  /** A stream lost records it held and starts a new epoch. */
  onLoss?: (name: string, losses: readonly LogLoss[], epochs: { from: string; to: string }) => void;
}

/** Longest directory name kept readable; file systems allow 255 bytes per name. */
const MAX_PLAIN_NAME = 255;
/** Starts hashed names; `encodeURIComponent` never makes it, so no plain name collides. */
const HASHED = "#";

/**
 * The directory name of namespace `name`: URI-encoded (as before, so existing directories keep
 * their names), or, when that is too long for a file name, `#` and a SHA-256 of the name (the
 * name itself is then read from the stream's `stream.json`).
 */
export function streamDirName(name: string): string {
  const plain = uriEncoded(name);
  if (plain && plain.length <= MAX_PLAIN_NAME) return plain;
  return HASHED + createHash("sha256").update(name, "utf16le").digest("hex");
}

function uriEncoded(name: string): string | undefined {
  try {
    return encodeURIComponent(name);
  } catch {
    return undefined; // a lone surrogate (channel validation refuses them; this stays total)
  }
}

export const streamsDir = (dataDir: string) => join(dataDir, "streams");
export const streamDir = (dataDir: string, name: string) =>
  join(streamsDir(dataDir), streamDirName(name));

/** Names of the namespaces stored in `dataDir`, sorted ([] when there is no streams folder). */
export async function storedNamespaces(dataDir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(streamsDir(dataDir))) {
      if (!e.isDirectory) continue;
      if (!e.name.startsWith(HASHED)) names.push(decodeURIComponent(e.name));
      else {
        const name = (await readStreamMeta(join(streamsDir(dataDir), e.name)))?.name;
        // Without its stream.json a hashed directory was never written to (a failed create).
        if (name) names.push(name);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

/** All namespaces' streams under `DATA/streams/<namespace>/`, one log each. */
export class StreamStore implements StreamEngine {
  readonly #dataDir: string;
  readonly #logOptions: Omit<LogOptions, "dir">;
  readonly #open = new Map<string, Promise<DurableStream>>();
  readonly #options: StreamStoreOptions;

  constructor(
    dataDir: string,
    logOptions: Omit<LogOptions, "dir" | "dataDir" | "openFiles">,
    options: StreamStoreOptions = {},
  ) {
    this.#dataDir = dataDir;
    const openFiles = options.maxOpenFiles ? new OpenFiles(options.maxOpenFiles) : undefined;
    this.#logOptions = { ...logOptions, dataDir, openFiles };
    this.#options = options;
  }

  list(): Promise<string[]> {
    return storedNamespaces(this.#dataDir);
  }

  /** Opens a namespace's stream; the first open's listener is the one it keeps. */
  open(name: string, listener?: StreamListener): Promise<DurableStream> {
    let stream = this.#open.get(name);
    if (!stream) {
      stream = this.#openStream(name, listener);
      this.#open.set(name, stream);
      stream.catch(() => this.#open.delete(name));
    }
    return stream;
  }

  async #openStream(name: string, listener?: StreamListener): Promise<DurableStream> {
    const dir = streamDir(this.#dataDir, name);
    const max = this.#options.maxNamespaces ?? 0;
    // Checked before this one joins this.#open (which holds every stream opened or opening).
    if (max && this.#open.size >= max && !(await exists(dir))) {
      throw new CatbusError(
        ErrorCode.LimitExceeded,
        `namespace "${name}" would be one more than --max-namespaces ${max}; publish into an ` +
          `existing namespace, or raise the limit`,
      );
    }
    const { retention, onLoss } = this.#options;
    return await DurableStream.open(dir, this.#logOptions, {
      name,
      retention,
      onLoss: onLoss && ((losses, epochs) => onLoss(name, losses, epochs)),
      listener,
    });
  }

  /** Applies the retention limits to every open stream (age needs this periodic pass). */
  async applyRetention(): Promise<void> {
    const retention = this.#options.retention;
    if (!retention) return;
    for (const stream of this.#open.values()) await (await stream).applyRetention(retention);
  }

  async close(): Promise<void> {
    for (const stream of this.#open.values()) await (await stream).close();
    this.#open.clear();
  }
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
