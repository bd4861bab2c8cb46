import { join } from "node:path";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { isReplySubject } from "../../client/shared/reply-subjects.ts";
import { parsePattern } from "../../client/shared/subject.ts";
import { writeFileAtomic } from "../log/atomic-file.ts";

const FILE = "namespaces.allowed";

/** One declared namespace and its own settings. */
export interface NamespaceSettings {
  name: string;
  /**
   * Memory only: its messages skip the log (positions and the in-memory history still hold,
   * resume beyond that history says `recovered: false`), like a NATS core subject.
   */
  ephemeral: boolean;
}

/** The keys a namespace's YAML mapping may have (`namespaces: { ticks: { ephemeral: true } }`). */
const SETTING_KEYS = new Set(["ephemeral"]);

/**
 * Reads the `namespaces` setting: a list of names (`--namespaces a,b`), or a YAML mapping of
 * each name to its settings (`{}`/null for none). Returns undefined for anything else; throws
 * the error that names a bad key or value.
 */
export function parseNamespaceSettings(
  raw: unknown,
  source: string,
): NamespaceSettings[] | undefined {
  if (typeof raw === "string") raw = raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(raw)) return raw.map((name) => ({ name: String(name), ephemeral: false }));
  if (raw === null || typeof raw !== "object") return undefined;
  return Object.entries(raw as Record<string, unknown>).map(([name, settings]) => {
    const where = `${source}.${name}`;
    if (settings === null) return { name, ephemeral: false };
    if (typeof settings !== "object" || Array.isArray(settings)) {
      throw new CatbusError(
        ErrorCode.BadRequest,
        `${where}: must be a mapping of the namespace's settings (such as ephemeral: true)`,
      );
    }
    for (const key of Object.keys(settings)) {
      if (!SETTING_KEYS.has(key)) {
        throw new CatbusError(
          ErrorCode.BadRequest,
          `${where}: unknown key ${key}; a namespace's settings are: ${[...SETTING_KEYS]}`,
        );
      }
    }
    const ephemeral = (settings as { ephemeral?: unknown }).ephemeral ?? false;
    if (typeof ephemeral !== "boolean") {
      throw new CatbusError(ErrorCode.BadRequest, `${where}.ephemeral: expected true or false`);
    }
    return { name, ephemeral };
  });
}

/**
 * The declared namespaces and their settings: from `--namespaces` (or the YAML `namespaces:`
 * section) and from `catbus namespace add`, which writes `DATA/namespaces.allowed` and takes
 * effect without a restart — the file is read again whenever a namespace not yet known is asked
 * for. A declared list restricts the server to it (the Bus seed's `BUS_NAMESPACES`).
 */
export class NamespacePolicy {
  readonly #known = new Map<string, NamespaceSettings>();
  /** Declared in the server's own settings: those win over the file. */
  readonly #configured: Set<string>;
  readonly #restricted: boolean;
  readonly #path: string;

  private constructor(dataDir: string, declared: NamespaceSettings[]) {
    for (const d of declared) this.#known.set(d.name, d);
    this.#configured = new Set(this.#known.keys());
    this.#restricted = declared.length > 0;
    this.#path = join(dataDir, FILE);
  }

  /** The policy of `dataDir`, with what `catbus namespace add` declared there so far. */
  static async load(dataDir: string, declared: NamespaceSettings[]): Promise<NamespacePolicy> {
    const policy = new NamespacePolicy(dataDir, declared);
    await policy.#reread();
    return policy;
  }

  get restricted(): boolean {
    return this.#restricted;
  }

  /** Declared memory-only (as far as known: `check` learns of later declarations). */
  ephemeral(name: string): boolean {
    return this.#known.get(name)?.ephemeral ?? false;
  }

  /**
   * Throws `bad_request` when namespaces are restricted and `name` was not declared. Reply
   * inboxes (`_inbox`, `_bus_`) are always served, as the original always serves `_bus_`.
   */
  async check(name: string): Promise<void> {
    if (this.#known.has(name) || isReplySubject(name)) return;
    await this.#reread();
    if (!this.#restricted || this.#known.has(name)) return;
    throw new CatbusError(
      ErrorCode.BadRequest,
      `namespace "${name}" is not declared; add it with \`catbus namespace add ${name}\` ` +
        `(takes effect at once) or list it in --namespaces`,
    );
  }

  async #reread() {
    for (const d of await readDeclared(this.#path)) {
      if (!this.#configured.has(d.name)) this.#known.set(d.name, d);
    }
  }
}

/** One line per namespace: its name, then ` ephemeral` when it is memory only. */
async function readDeclared(path: string): Promise<NamespaceSettings[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").map((l) => l.trim()).filter(Boolean)
      .map((line) => {
        const [name, ...flags] = line.split(/\s+/);
        return { name, ephemeral: flags.includes("ephemeral") };
      });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/**
 * Declares a namespace, or changes its settings (for `catbus namespace add`). `stored`: the
 * namespace already has stored messages, which an ephemeral declaration would hide.
 */
export async function declareNamespace(
  dataDir: string,
  settings: NamespaceSettings,
  stored: boolean,
): Promise<void> {
  const { name } = settings;
  const tokens = parsePattern(name);
  if (tokens.length !== 1 || name === "*" || name === ">") {
    throw new CatbusError(
      ErrorCode.BadRequest,
      `"${name}" is not a namespace: one token, no wildcards`,
    );
  }
  if (settings.ephemeral && stored) {
    throw new CatbusError(
      ErrorCode.Conflict,
      `namespace "${name}" already has stored messages; an ephemeral namespace keeps none, so ` +
        "declare a new namespace --ephemeral instead",
    );
  }
  const path = join(dataDir, FILE);
  const declared = await readDeclared(path);
  const at = declared.findIndex((d) => d.name === name);
  if (at >= 0 && declared[at].ephemeral === settings.ephemeral) return;
  if (at >= 0) declared[at] = settings;
  else declared.push(settings);
  await Deno.mkdir(dataDir, { recursive: true });
  // Rewritten whole and atomically: an append cut short by a full disk left half a name.
  const text = declared.map((d) => d.name + (d.ephemeral ? " ephemeral" : "")).join("\n") + "\n";
  await writeFileAtomic(path, new TextEncoder().encode(text));
}

export const declaredNamespaces = (dataDir: string) => readDeclared(join(dataDir, FILE));
