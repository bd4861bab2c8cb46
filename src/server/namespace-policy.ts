import { join } from "node:path";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { isReplySubject } from "../../client/shared/reply-subjects.ts";
import { parsePattern } from "../../client/shared/subject.ts";
import { writeFileAtomic } from "../log/atomic-file.ts";

const FILE = "namespaces.allowed";

/**
 * Optional restriction of namespaces to a declared list (the Bus seed's `BUS_NAMESPACES`).
 * Unlike the original, adding one needs no restart: `catbus namespace add NAME` appends to
 * `DATA/namespaces.allowed`, which is read again whenever an undeclared namespace is asked for.
 */
export class NamespacePolicy {
  readonly #declared: Set<string>;
  readonly #path: string;

  constructor(dataDir: string, declared: string[]) {
    this.#declared = new Set(declared);
    this.#path = join(dataDir, FILE);
  }

  get restricted(): boolean {
    return this.#declared.size > 0;
  }

  /**
   * Throws `bad_request` when namespaces are restricted and `name` was not declared. Reply
   * inboxes (`_inbox`, `_bus_`) are always served, as the original always serves `_bus_`.
   */
  async check(name: string): Promise<void> {
    if (!this.restricted || this.#declared.has(name) || isReplySubject(name)) return;
    if ((await readAllowed(this.#path)).includes(name)) {
      this.#declared.add(name);
      return;
    }
    throw new CatbusError(
      ErrorCode.BadRequest,
      `namespace "${name}" is not declared; add it with \`catbus namespace add ${name}\` ` +
        `(takes effect at once) or list it in --namespaces`,
    );
  }
}

async function readAllowed(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").map((l) => l.trim())
      .filter(Boolean);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Declares a namespace (for `catbus namespace add`). */
export async function declareNamespace(
  dataDir: string,
  name: string,
): Promise<void> {
  const tokens = parsePattern(name);
  if (tokens.length !== 1 || name === "*" || name === ">") {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `"${name}" is not a namespace: one token, no wildcards`,
    );
  }
  const path = join(dataDir, FILE);
  const allowed = await readAllowed(path);
  if (allowed.includes(name)) return;
  await Deno.mkdir(dataDir, { recursive: true });
  // Rewritten whole and atomically: an append cut short by a full disk left half a name.
  const text = [...allowed, name].join("\n") + "\n";
  await writeFileAtomic(path, new TextEncoder().encode(text));
}

export const declaredNamespaces = (dataDir: string) => readAllowed(join(dataDir, FILE));
