/** Alle's clients as tests drive them: a WebSocket of JSON text messages, and the server's URL. */
import { startCatbusd, type TestServer } from "./catbusd.ts";
import type { TestDatabase } from "./postgres.ts";
import { AsyncQueue } from "./queue.ts";
import { within } from "./deadline.ts";

export type AlleMessage = Record<string, unknown> & { type: string };

/** A catbusd with the Alle door on a free port, bridging `db`, once it is connected. */
export async function alleServer(db: TestDatabase, ...args: string[]): Promise<TestServer> {
  const server = await startCatbusd([
    "--alle-bind",
    "127.0.0.1:0",
    "--alle-postgres-url",
    db.url,
    ...args,
  ]);
  await server.waitForLog(/alle: connected to PostgreSQL/, 30_000);
  return server;
}

/** The Alle door's ws:// URL, from the server's start-up line. */
export function alleUrl(server: TestServer): string {
  const url = / alle=(\S+)/.exec(server.log())?.[1];
  if (!url) throw new Error(`catbusd logged no alle= URL:\n${server.log()}`);
  return url;
}

export class AlleSocket {
  readonly socket: WebSocket;
  readonly #messages = new AsyncQueue<AlleMessage>();
  readonly closed: Promise<CloseEvent>;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.onmessage = (e) => this.#messages.push(JSON.parse(e.data));
    this.closed = new Promise((resolve) => socket.addEventListener("close", resolve));
  }

  static async connect(url: string, headers?: Record<string, string>): Promise<AlleSocket> {
    const socket = headers
      ? new WebSocket(url, { headers } as unknown as string[])
      : new WebSocket(url);
    const opened = new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = (e) => reject(new Error(`cannot connect to ${url}: ${String(e)}`));
    });
    const client = new AlleSocket(socket);
    await within(opened, 15_000, `connect to ${url}`);
    return client;
  }

  send(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  next(what = "a message"): Promise<AlleMessage> {
    return this.#messages.next(what, 15_000);
  }

  /** Sends `message` and returns the next message received. */
  async request(message: Record<string, unknown>): Promise<AlleMessage> {
    this.send(message);
    return await this.next(`the answer to ${JSON.stringify(message)}`);
  }

  get pending(): number {
    return this.#messages.size;
  }

  close(): void {
    this.socket.close();
  }
}
