import { parseArgs } from "node:util";
import { declaredNamespaces, declareNamespace } from "../server/namespace-policy.ts";
import { cliContext, COMMON_OPTIONS, UsageError } from "./context.ts";

/** `catbus namespace add NAME | list`: the declared namespaces of a restricted server. */
export async function namespaceCommand(args: string[], env: Record<string, string | undefined>) {
  const [sub, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: COMMON_OPTIONS,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { data } = cliContext(parsed.values, env);
  if (sub === "add" && parsed.positionals.length === 1) {
    await declareNamespace(data, parsed.positionals[0]);
    console.log(`declared namespace ${parsed.positionals[0]}`);
  } else if (sub === "list") {
    for (const name of await declaredNamespaces(data)) console.log(name);
  } else throw new UsageError("usage: catbus namespace add NAME | list");
}
