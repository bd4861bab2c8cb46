/**
 * Requests and replies across catbusd nodes, run against every shared engine (the caller starts
 * the nodes): real processes on free ports.
 */
import assert from "node:assert/strict";
import { CatbusClient } from "../../client/mod.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { FrameType } from "../../client/shared/frame.ts";
import type { TestServer } from "./catbusd.ts";
import { within } from "./deadline.ts";
import { nativeClient } from "./native.ts";
import { RawConnection } from "./raw.ts";

/** Starts `n` nodes sharing one engine, runs `fn`, and stops them. */
export type WithNodes = (
  n: number,
  fn: (nodes: TestServer[]) => Promise<void>,
  args?: string[],
) => Promise<void>;

/**
 * Sends a responder's answer; one still on its way when the test disconnects the responder is
 * refused with "connection lost", which is no failure of the test.
 */
export const answer = (sent: Promise<unknown>): void =>
  void sent.catch((e) => {
    if (!(e instanceof CatbusError && e.code === ErrorCode.Disconnected)) throw e;
  });

export const isCode = (code: string) => (e: unknown) => e instanceof CatbusError && e.code === code;

/** A native client over WebSocket (the admin key). */
export async function wsClient(node: TestServer): Promise<CatbusClient> {
  const client = new CatbusClient({ url: node.wsUrl, token: node.adminKey });
  await client.connect();
  return client;
}

/**
 * Polls `attempt` until it returns a value: another node learns of a subscription through
 * the engine a moment after it was answered.
 */
export async function eventually<T>(
  what: string,
  attempt: () => Promise<T | undefined>,
  ms = 15_000,
): Promise<T> {
  return await within(
    (async () => {
      for (;;) {
        const value = await attempt();
        if (value !== undefined) return value;
        await new Promise((r) => setTimeout(r, 50));
      }
    })(),
    ms,
    what,
  );
}

/** The request's answer once some node answers; no_responders until the nodes know of one. */
export const answered = (client: CatbusClient, channel: string, payload: unknown) =>
  eventually(`an answer on ${channel}`, async () => {
    try {
      return { value: await client.request(channel, payload, { timeout: 5_000 }) };
    } catch (e) {
      if (isCode("no_responders")(e)) return undefined;
      throw e;
    }
  });

/** Resolves once a request on `channel` is refused with no_responders. */
export const noResponders = (client: CatbusClient, channel: string, ms?: number) =>
  eventually(`no_responders on ${channel}`, async () => {
    try {
      await client.request(channel, null, { timeout: 1_000 });
      return undefined;
    } catch (e) {
      if (isCode("no_responders")(e)) return true;
      if (isCode("timeout")(e)) return undefined;
      throw e;
    }
  }, ms);

/** The `nodes` of a native welcome from `node`. */
export async function welcomeNodes(node: TestServer): Promise<string[]> {
  const c = await RawConnection.connect(node.tcpPort);
  try {
    const welcome = await c.hello(node.adminKey);
    assert.equal(welcome.type, FrameType.Welcome);
    return (welcome.json.nodes as string[] | undefined) ?? [];
  } finally {
    c.close();
  }
}

/** Request/reply between two nodes, both ways, on the engine `withNodes` starts. */
export function clusterRequestScenario(engine: string, withNodes: WithNodes, ignore: boolean) {
  Deno.test({
    name: `cluster requests ${engine} - a requester on one node gets the reply of a responder ` +
      "on another (TCP and WebSocket), also past a NOTIFY's 8,000 bytes; no_responders only " +
      "when no node has a responder",
    ignore,
    async fn() {
      await withNodes(2, async ([n1, n2]) => {
        const setup = await nativeClient(n1);
        await setup.publish("svc.init", null);
        const requester = await nativeClient(n1); // TCP
        await assert.rejects(requester.request("svc.double", 1), isCode("no_responders"));

        const service = await wsClient(n2);
        await service.subscribe(
          "svc.double",
          (_c, payload, meta) => answer(service.respond(meta, (payload as number) * 2)),
        );
        assert.deepEqual(await answered(requester, "svc.double", 21), { value: 42 });
        const many = await Promise.all([1, 2, 3].map((n) => requester.request("svc.double", n)));
        assert.deepEqual(many, [2, 4, 6]);

        // The other way round: a WebSocket requester on node 2, a TCP responder on node 1.
        const backwards = await nativeClient(n1);
        await backwards.subscribe(
          "svc.name",
          (_c, _p, meta) => answer(backwards.respond(meta, "n1")),
        );
        assert.deepEqual(await answered(service, "svc.name", null), { value: "n1" });

        // A reply larger than a PostgreSQL NOTIFY payload travels whole.
        const big = "x".repeat(20_000);
        await backwards.subscribe(
          "svc.big",
          (_c, _p, meta) => answer(backwards.respond(meta, big)),
        );
        assert.deepEqual(await answered(service, "svc.big", null), { value: big });

        // The responder leaves: no node answers any more.
        await service.disconnect();
        await noResponders(requester, "svc.double");
        for (const c of [setup, requester, backwards]) await c.disconnect();
      });
    },
  });
}
