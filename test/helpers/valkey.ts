/**
 * Valkey/Redis for tests: the shared test server (CATBUS_TEST_VALKEY_URL, skipped with a visible
 * line when unreachable, a failure under CI=true), and private servers a test starts, restarts
 * and stops on a free port.
 */
import { Redis } from "iovalkey";
import { within } from "./deadline.ts";
import { Broker } from "../../src/core/broker.ts";
import type { StreamEngine } from "../../src/core/stream-engine.ts";

export const TEST_VALKEY_URL = Deno.env.get("CATBUS_TEST_VALKEY_URL") ?? "redis://127.0.0.1:6379";

/** Answers PING within a few seconds, or says why not. */
async function ping(url: string): Promise<string | undefined> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => {});
  try {
    await within(client.connect().then(() => client.ping()), 5_000, `PING ${url}`);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    client.disconnect();
  }
}

/** The test server's URL, or undefined (said on the console) when it cannot be reached. */
export async function valkeyOrSkip(what: string): Promise<string | undefined> {
  const why = await ping(TEST_VALKEY_URL);
  if (!why) return TEST_VALKEY_URL;
  if (Deno.env.get("CI") === "true") {
    throw new Error(`Valkey at ${TEST_VALKEY_URL} is needed in CI: ${why}`);
  }
  console.log(
    `SKIPPED ${what}: no Valkey at ${TEST_VALKEY_URL} (${why}); set CATBUS_TEST_VALKEY_URL`,
  );
  return undefined;
}

/** A key prefix no other test run uses. */
export const uniquePrefix = (what: string) =>
  `catbus-test:${what}:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}:`;

/** Deletes every key that starts with `prefix`. */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      if (keys.length) await client.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}

/** A redis-server of a test's own on 127.0.0.1:`port`, files in `dir`, no persistence. */
const ownServerArgs = (port: number, dir: string) => [
  "--port",
  String(port),
  "--bind",
  "127.0.0.1",
  "--dir",
  dir,
  "--save",
  "",
  "--appendonly",
  "no",
];

/** A hub on `engine` that opens the namespaces other nodes create, as catbusd does. */
export function followingHub(engine: StreamEngine): Broker {
  const broker = new Broker({ history: { maxMessages: 2, maxBytes: 1 << 20 }, storage: engine });
  // As the server does, a failed open is no crash: a test that needs the namespace waits for it,
  // and one whose engine was just closed (disposed while the open ran) does not care.
  engine.watchList?.((name) => void broker.createNamespace(name).catch(() => {}));
  return broker;
}

export interface PrivateRedis {
  url: string;
  /** Ends the server: SIGTERM (a clean shutdown), or SIGKILL when `crash`. */
  kill(options?: { crash?: boolean }): Promise<void>;
  /** Starts it again on the same port and directory; resolves once it answers. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * A redis-server of the test's own on 127.0.0.1 (no persistence unless `args` turn it on), or
 * undefined (said on the console; a failure in CI) when there is no redis-server binary.
 */
export async function startPrivateRedis(args: string[] = []): Promise<PrivateRedis | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "catbus-redis-" });
  const port = freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: Deno.ChildProcess;
  const start = async () => {
    child = new Deno.Command("redis-server", {
      args: [...ownServerArgs(port, dir), ...args],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (const deadline = Date.now() + 20_000; (await ping(url)) !== undefined;) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${url} did not answer`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await start();
  } catch (e) {
    await Deno.remove(dir, { recursive: true });
    if (Deno.env.get("CI") === "true" || !(e instanceof Deno.errors.NotFound)) throw e;
    console.log("SKIPPED: no redis-server on PATH (apt-get install redis-server)");
    return undefined;
  }
  const kill = async (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
    await child.status;
  };
  return {
    url,
    kill: (options = {}) => kill(options.crash ? "SIGKILL" : "SIGTERM"),
    start,
    async stop() {
      await kill("SIGKILL");
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A free 127.0.0.1 port whose cluster bus port (+10000) is free too. */
function freeClusterPort(): number {
  for (;;) {
    const port = freePort();
    if (port + 10_000 > 65_535) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port: port + 10_000 }).close();
      return port;
    } catch { /* taken: another one */ }
  }
}

/**
 * A Redis Cluster of `masters` redis-servers of the test's own (no persistence, no replicas) on
 * free ports, once every slot is served; undefined (said on the console; a failure in CI) when
 * there is no redis-server binary.
 */
export async function startPrivateCluster(
  masters = 3,
): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "catbus-redis-cluster-" });
  const ports = Array.from({ length: masters }, freeClusterPort);
  const children: Deno.ChildProcess[] = [];
  const stop = async () => {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    }
    await Deno.remove(dir, { recursive: true });
  };
  try {
    for (const port of ports) {
      await Deno.mkdir(`${dir}/${port}`);
      children.push(
        new Deno.Command("redis-server", {
          args: [
            ...ownServerArgs(port, `${dir}/${port}`),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
          ],
          stdout: "null",
          stderr: "null",
        }).spawn(),
      );
    }
    for (const port of ports) {
      for (
        const deadline = Date.now() + 20_000;
        (await ping(`redis://127.0.0.1:${port}`)) !== undefined;
      ) {
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const create = await new Deno.Command("redis-cli", {
      args: [
        "--cluster",
        "create",
        ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!create.success) {
      throw new Error(`redis-cli --cluster create: ${new TextDecoder().decode(create.stdout)}`);
    }
    for (const port of ports) {
      const client = new Redis(`redis://127.0.0.1:${port}`);
      try {
        for (
          const deadline = Date.now() + 30_000;
          !/cluster_state:ok/.test(String(await client.call("CLUSTER", "INFO")));
        ) {
          if (Date.now() > deadline) throw new Error(`the cluster did not become ready on ${port}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        client.disconnect();
      }
    }
  } catch (e) {
    await stop();
    if (Deno.env.get("CI") === "true" || !(e instanceof Deno.errors.NotFound)) throw e;
    console.log("SKIPPED: no redis-server on PATH (apt-get install redis-server)");
    return undefined;
  }
  return { url: `redis://127.0.0.1:${ports[0]}`, stop };
}
