/**
 * What every shared engine (several nodes over one store) adds to the stream-engine contract:
 * nodes agree on one sequence, each node fans out every node's messages in order, a dedupe key is
 * stored once whichever node sees it, and engine-wide limits hold on every node. Run by each shared
 * engine's test file beside `runStreamEngineContract`.
 */
import assert from "node:assert/strict";
import { type CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { StreamEngine } from "../../src/core/stream-engine.ts";
import { within } from "../helpers/deadline.ts";
import { json } from "../helpers/raw.ts";
import { followingHub } from "../helpers/valkey.ts";

export interface SharedEngineUnderTest {
  engine: StreamEngine;
  /** Another node's engine over the same store (left open until dispose). */
  crashed(): Promise<StreamEngine>;
  /** Closes every engine this made and removes its data. */
  dispose(): Promise<void>;
}

export interface SharedEngineOptions {
  /** The engine-wide namespace limit (`--max-namespaces`). */
  maxNamespaces?: number;
}

type MakeSharedEngine = (options: SharedEngineOptions) => Promise<SharedEngineUnderTest>;

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Runs the shared-engine cases against the engines `make` makes; `name` starts every test name. */
export function runSharedEngineContract(name: string, make: MakeSharedEngine): void {
  Deno.test(
    `stream engine ${name} - two nodes: one sequence, fan-out on both in order, a key stored once`,
    async () => {
      const e = await make({});
      try {
        const [a, b] = [followingHub(e.engine), followingHub(await e.crashed())];
        const seen: number[] = [];
        const all = Promise.withResolvers<void>();
        await b.subscribe({
          deliver: (m) => {
            seen.push(m.seq);
            if (seen.length === 8) all.resolve();
          },
        }, "ns.>");
        // Created on node a: node b hears of it and follows it from its first message.
        await a.createNamespace("ns");
        const sent = [];
        for (let i = 0; i < 4; i++) {
          sent.push(await a.publish({ channel: "ns.x", payload: json(i) }));
        }
        await within(
          (async () => {
            while (!b.namespace("ns")) await new Promise((r) => setTimeout(r, 10));
          })(),
          10_000,
          "node b to open the namespace",
        );
        for (let i = 4; i < 8; i++) {
          sent.push(await (i % 2 ? a : b).publish({ channel: "ns.x", payload: json(i) }));
        }
        await within(all.promise, 10_000, "every message on node b");
        assert.deepEqual(sent.map((m) => m.seq), range(1, 8));
        assert.deepEqual(seen, range(1, 8));
        const first = await a.publish({ channel: "ns.x", payload: json("k"), key: "k" });
        const again = await b.publish({ channel: "ns.x", payload: json("k"), key: "k" });
        assert.equal(again.duplicate, true);
        assert.deepEqual([again.epoch, again.seq], [first.epoch, first.seq]);
        const stored: number[] = [];
        for await (const batch of a.read(a.namespace("ns")!, 1)) {
          stored.push(...batch.map((m) => m.seq));
        }
        assert.deepEqual(stored, range(1, 9));
      } finally {
        await e.dispose();
      }
    },
  );

  Deno.test(
    `stream engine ${name} - a purge on one node: the other's memory stops serving the messages`,
    async () => {
      const e = await make({});
      try {
        const a = followingHub(e.engine);
        await a.createNamespace("ns");
        for (const channel of ["ns.a", "ns.b", "ns.a"]) {
          await a.publish({ channel, payload: json(channel) });
        }
        const b = followingHub(await e.crashed());
        await b.load();
        const channels = async () => {
          const out: string[] = [];
          for await (const batch of b.read(b.namespace("ns")!, 1)) {
            out.push(...batch.map((m) => m.channel));
          }
          return out.join();
        };
        assert.equal(await channels(), "ns.a,ns.b,ns.a", "node b holds the newest in memory");
        await a.purgeChannel("ns.a");
        await within(
          (async () => {
            while (await channels() !== "ns.b") await new Promise((r) => setTimeout(r, 10));
          })(),
          10_000,
          "node b to stop serving the purged messages",
        );
      } finally {
        await e.dispose();
      }
    },
  );

  Deno.test(
    `stream engine ${name} - namespace N+1 in the engine is refused with limit_exceeded, on any node`,
    async () => {
      const e = await make({ maxNamespaces: 2 });
      try {
        const [a, b] = [followingHub(e.engine), followingHub(await e.crashed())];
        await a.createNamespace("one");
        await b.createNamespace("two");
        for (const node of [a, b]) {
          await assert.rejects(
            node.createNamespace("three"),
            (err: CatbusError) =>
              err.code === ErrorCode.LimitExceeded && /--max-namespaces 2/.test(err.message),
          );
        }
        await b.createNamespace("one");
      } finally {
        await e.dispose();
      }
    },
  );
}
