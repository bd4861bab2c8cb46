/**
 * A fresh PostgreSQL database per test, on the server named by CATBUS_TEST_DATABASE_URL (default
 * the local one), dropped afterwards, so tests run in parallel without meeting. When the server
 * is unreachable the test is skipped with a visible line, except under CI=true, where it fails.
 */
import postgres from "postgres";

const ADMIN_URL = Deno.env.get("CATBUS_TEST_DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/test";

export interface TestDatabase {
  /** The URL of the fresh database. */
  url: string;
  name: string;
  /** A connection to it, for the test's own statements (psql's side). */
  sql: postgres.Sql;
  [Symbol.asyncDispose](): Promise<void>;
}

const quiet = { onnotice: () => {}, connect_timeout: 5 };

/** A new database, or undefined (after a SKIPPED line) when PostgreSQL is unreachable. */
export async function testDatabase(testName: string): Promise<TestDatabase | undefined> {
  const admin = postgres(ADMIN_URL, { ...quiet, max: 1 });
  try {
    await admin`select 1`;
  } catch (e) {
    await admin.end({ timeout: 1 });
    if (Deno.env.get("CI") === "true") {
      throw new Error(`PostgreSQL at ${ADMIN_URL} is unreachable: ${(e as Error).message}`);
    }
    console.log(
      `SKIPPED ${testName}: PostgreSQL at ${ADMIN_URL} is unreachable (set CATBUS_TEST_DATABASE_URL)`,
    );
    return undefined;
  }
  const name = `catbus_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const sql = postgres(url.toString(), { ...quiet, max: 2 });
  return {
    url: url.toString(),
    name,
    sql,
    async [Symbol.asyncDispose]() {
      await sql.end({ timeout: 1 });
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 1 });
    },
  };
}

/**
 * A TCP proxy in front of PostgreSQL on a port of its own, for tests of an unreachable or
 * vanishing database: `open()` accepts and forwards, `cut()` drops every connection and stops
 * listening (the port refuses, as a stopped server's does).
 */
export class PgProxy {
  readonly port: number;
  readonly #target: { hostname: string; port: number };
  #listener?: Deno.Listener;
  readonly #conns = new Set<Deno.Conn>();

  private constructor(port: number, target: { hostname: string; port: number }) {
    this.port = port;
    this.#target = target;
  }

  /** A closed proxy on a free port, aimed at the test server. */
  static create(): PgProxy {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const admin = new URL(ADMIN_URL);
    return new PgProxy(port, { hostname: admin.hostname, port: Number(admin.port || 5432) });
  }

  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string {
    const u = new URL(url);
    u.hostname = "127.0.0.1";
    u.port = String(this.port);
    return u.toString();
  }

  open(): void {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    (async () => {
      for await (const client of this.#listener!) this.#forward(client);
    })().catch(() => {});
  }

  cut(): void {
    this.#listener?.close();
    this.#listener = undefined;
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    this.#conns.clear();
  }

  async #forward(client: Deno.Conn) {
    let server: Deno.Conn;
    try {
      server = await Deno.connect(this.#target);
    } catch {
      client.close();
      return;
    }
    this.#conns.add(client);
    this.#conns.add(server);
    const pipe = (from: Deno.Conn, to: Deno.Conn) =>
      from.readable.pipeTo(to.writable).catch(() => {}).finally(() => {
        for (const c of [from, to]) {
          try {
            c.close();
          } catch { /* closed */ }
          this.#conns.delete(c);
        }
      });
    pipe(client, server);
    pipe(server, client);
  }
}
