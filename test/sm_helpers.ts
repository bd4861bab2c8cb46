/** Shared bits of the state-machine end-to-end tests. */
import { RcpClient, type RcpClientOptions, RcpRequestError } from "../src/dialects/rcp/client.ts";
import { startCatbusd, type TestServer } from "./helpers/catbusd.ts";

export { ORDER } from "./fixtures/order-machine.ts";

export const startSm = (
  args: string[] = [],
  options: { data?: string; env?: Record<string, string> } = {},
) => startCatbusd(["--rcp-bind", "127.0.0.1:0", ...args], options);

export const connectSm = (
  server: TestServer,
  options: Partial<RcpClientOptions> = {},
): Promise<RcpClient> =>
  RcpClient.connect({ hostname: "127.0.0.1", port: server.rcpPort!, ...options });

/** The error code a request fails with (or "ok"). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof RcpRequestError) return e.code;
    throw e;
  }
}

/** Collects events and lets a test await the n-th one. */
export class EventLog {
  readonly events: Record<string, unknown>[] = [];
  #waiters: { n: number; resolve: () => void }[] = [];

  readonly push = (e: Record<string, unknown>) => {
    this.events.push(e);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.events.length < w.n) return true;
      w.resolve();
      return false;
    });
  };

  async count(n: number): Promise<Record<string, unknown>[]> {
    if (this.events.length < n) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiters.push({ n, resolve });
      await promise;
    }
    return this.events.slice(0, n);
  }
}
