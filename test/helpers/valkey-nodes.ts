import { startCatbusd, type TestServer } from "./catbusd.ts";
import { deleteKeys, uniquePrefix } from "./valkey.ts";

/** One catbusd node per URL (the same Valkey, or a way to it), sharing streams under `prefix`. */
export async function startValkeyNodes(
  valkeys: string[],
  prefix: string,
  args: string[] = [],
): Promise<TestServer[]> {
  const nodes: TestServer[] = [];
  for (const valkey of valkeys) {
    nodes.push(
      await startCatbusd([
        "--engine",
        "valkey",
        "--valkey-url",
        valkey,
        "--valkey-prefix",
        prefix,
        "--no-webtransport",
        ...args,
      ]),
    );
  }
  return nodes;
}

/**
 * `n` nodes on the Valkey at `url` for one test (or one per URL of `n`); stopped and their keys
 * deleted afterwards.
 */
export async function withValkeyNodes(
  url: string,
  n: number | string[],
  fn: (nodes: TestServer[], prefix: string) => Promise<void>,
  args: string[] = [],
): Promise<void> {
  const prefix = uniquePrefix("cluster");
  const nodes = await startValkeyNodes(
    typeof n === "number" ? Array(n).fill(url) : n,
    prefix,
    args,
  );
  try {
    await fn(nodes, prefix);
  } finally {
    for (const node of nodes) await node.stop();
    await deleteKeys(url, prefix);
  }
}
