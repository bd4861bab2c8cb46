import { join } from "node:path";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { randomId } from "../core/ids.ts";
import { writeFileAtomic } from "../log/atomic-file.ts";

/** `stream.json`: the stream's epoch, and its namespace (directory names may be hashes). */
export interface StreamMeta {
  name?: string;
  epoch: string;
  created: string;
}

const FILE = "stream.json";

/** The stream's metadata, or undefined when it has none yet. */
export async function readStreamMeta(dir: string): Promise<StreamMeta | undefined> {
  const path = join(dir, FILE);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    const meta = JSON.parse(text);
    if (typeof meta.epoch === "string" && meta.epoch) return meta;
    throw new Error("no epoch");
  } catch (e) {
    throw new CatbusError(
      ErrorCode.Internal,
      `${path} is damaged (${(e as Error).message}); it only holds the stream's epoch: ` +
        `delete it and start again (the stream gets a new epoch, so resuming clients start over; ` +
        `no message is lost)`,
      { cause: e },
    );
  }
}

/** Starts a new epoch for the stream of namespace `name` in `dir` (written atomically). */
export async function writeStreamMeta(dir: string, name?: string): Promise<StreamMeta> {
  const meta = { name, epoch: randomId(8), created: new Date().toISOString() };
  await writeFileAtomic(join(dir, FILE), new TextEncoder().encode(JSON.stringify(meta) + "\n"));
  return meta;
}
