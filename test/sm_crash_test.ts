import assert from "node:assert/strict";
import { connectSm, startSm } from "./sm_helpers.ts";
import type { TestServer } from "./helpers/catbusd.ts";
import { within } from "./helpers/deadline.ts";

const FLOW = {
  states: ["new", "done"],
  initial: "new",
  transitions: [{ from: "new", event: "FINISH", to: "done" }],
};

/**
 * Creates instance n and applies FINISH to it, 32 numbers in flight, until the server dies;
 * records every n whose FINISH was acknowledged.
 */
async function applyUntilCut(server: TestServer, from: number, acked: number[], onAck: () => void) {
  const c = await connectSm(server);
  let next = from;
  const inFlight = new Set<Promise<void>>();
  try {
    for (;;) {
      while (inFlight.size < 32) {
        const n = next++;
        c.request("CREATE_INSTANCE", {
          instance_id: `i${n}`,
          machine: "flow",
          version: 1,
          initial_ctx: { n },
        })
          .catch(() => {});
        const p: Promise<void> = c.request("APPLY_EVENT", { instance_id: `i${n}`, event: "FINISH" })
          .then(() => {
            acked.push(n);
            onAck();
          })
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await Promise.race(inFlight);
    }
  } catch {
    // The server died: unacknowledged transitions may or may not be stored.
  }
  c.close();
  return next;
}

Deno.test("sm crash - every acknowledged transition survives SIGKILL, across compactions", async () => {
  const data = await Deno.makeTempDir({ prefix: "catbus-sm-crash-" });
  const args = [
    "--sm-fsync",
    "every_write",
    "--sm-segment-mb",
    "0.01",
    "--sm-compact-events",
    "300",
  ];
  const acked: number[] = [];
  let next = 0;
  for (let round = 0; round < 4; round++) {
    const server = await startSm(args, { data });
    const setup = await connectSm(server);
    await setup.request("PUT_MACHINE", { machine: "flow", version: 1, definition: FLOW });
    // A forced compaction right before one of the crashes, besides the automatic ones.
    if (round === 2) await setup.request("COMPACT", { force_snapshot: true });
    setup.close();
    const target = acked.length + 400;
    const reached = Promise.withResolvers<void>();
    const applying = applyUntilCut(server, next, acked, () => {
      if (acked.length >= target) reached.resolve();
    });
    await within(reached.promise, 15_000, "400 more acknowledged events");
    await server.crash();
    next = await applying;
  }
  await using server = await startSm(args, { data });
  const c = await connectSm(server);
  const stats = await c.request("WAL_STATS");
  assert.ok(
    (stats.latest_offset as number) > (stats.entry_count as number),
    "the WAL was compacted",
  );
  for (let i = 0; i < acked.length; i += 100) {
    const ops = acked.slice(i, i + 100).map((n) => ({
      op: "GET_INSTANCE",
      params: { instance_id: `i${n}` },
    }));
    const { results } = await c.request("BATCH", { mode: "best_effort", ops }) as {
      results: { status: string; result?: { state: string } }[];
    };
    const missing = results.flatMap((r, j) =>
      r.status === "ok" && r.result!.state === "done" ? [] : [acked[i + j]]
    );
    assert.deepEqual(missing, [], "every acknowledged transition is there");
  }
  assert.ok(acked.length >= 1600);
  c.close();
  await Deno.remove(data, { recursive: true });
});
