import { parseArgs } from "node:util";
import { declaredNamespaces, declareNamespace } from "../server/namespace-policy.ts";
import { storedNamespaces } from "../streams/stream-store.ts";
import { cliContext, COMMON_OPTIONS, UsageError } from "./context.ts";

/**
 * `catbus namespace add NAME [--ephemeral] | list`: the declared namespaces and their settings
 * (the only ones a restricted server serves).
 */
export async function namespaceCommand(args: string[], env: Record<string, string | undefined>) {
  const [sub, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...COMMON_OPTIONS, ephemeral: { type: "boolean" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { data } = cliContext(parsed.values, env);
  if (sub === "add" && parsed.positionals.length === 1) {
    const name = parsed.positionals[0];
    const ephemeral = parsed.values.ephemeral === true;
    await declareNamespace(
      data,
      { name, ephemeral },
      (await storedNamespaces(data)).includes(name),
    );
    console.log(`declared namespace ${name}${ephemeral ? " (ephemeral: memory only)" : ""}`);
  } else if (sub === "list") {
    for (const d of await declaredNamespaces(data)) {
      console.log(d.name + (d.ephemeral ? " ephemeral" : ""));
    }
  } else throw new UsageError("usage: catbus namespace add NAME [--ephemeral] | list");
}
