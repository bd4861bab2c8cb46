import assert from "node:assert/strict";
import { type EngineOptions, StateMachineEngine } from "./engine.ts";
import type { Change } from "./change.ts";
import { SmError } from "./errors.ts";
import { ORDER } from "../../test/fixtures/order-machine.ts";

async function withEngine(
  options: Partial<EngineOptions>,
  body: (open: () => Promise<StateMachineEngine>) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "catbus-sm-" });
  const open = () => StateMachineEngine.open({ dir, fsync: { kind: "always" }, ...options });
  try {
    await body(open);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const code = (c: string) => (e: unknown) => e instanceof SmError && e.code === c;

Deno.test("sm engine - put, create, apply in order; errors in rstmdb's order", async () => {
  await withEngine({}, async (open) => {
    const sm = await open();
    assert.equal(
      (await sm.putMachine({ machine: "order", version: 1, definition: ORDER })).created,
      true,
    );
    assert.equal(
      (await sm.putMachine({ machine: "order", version: 1, definition: ORDER })).created,
      false,
    );
    await assert.rejects(
      sm.putMachine({ machine: "order", version: 1, definition: { ...ORDER, initial: "paid" } }),
      code("MACHINE_VERSION_EXISTS"),
    );
    const created = await sm.createInstance({ machine: "order", version: 1, initial_ctx: {} });
    const id = created.instance_id as string;
    assert.equal(created.state, "created");
    const get = () => sm.getInstance({ instance_id: id });
    assert.deepEqual((await get()).ctx, {}, "an omitted ctx is {}");
    const apply = (event: string, payload: unknown = null, extra = {}) =>
      sm.applyEvent({ instance_id: id, event, payload, ...extra });
    await assert.rejects(apply("SHIP"), code("INVALID_TRANSITION"));
    await assert.rejects(apply("PAY"), code("GUARD_FAILED"));
    await assert.rejects(apply("PAY", { amount: 5 }, { expected_state: "paid" }), code("CONFLICT"));
    await assert.rejects(
      apply("PAY", { amount: 5 }, { expected_wal_offset: 999 }),
      code("CONFLICT"),
    );
    // The guard sees the ctx before the payload is merged.
    await assert.rejects(apply("PAY", { amount: 5 }), code("GUARD_FAILED"));
    const cancelled = await apply("CANCEL", { amount: 5 }, { expected_state: "created" });
    assert.equal(cancelled.to_state, "cancelled");
    await assert.rejects(apply("CANCEL"), code("INVALID_TRANSITION"));
    await sm.close();
  });
});

Deno.test("sm engine - payload objects merge into ctx; others leave it; instances pinned to version", async () => {
  await withEngine({}, async (open) => {
    const sm = await open();
    await sm.putMachine({ machine: "order", version: 1, definition: ORDER });
    await sm.createInstance({
      instance_id: "o1",
      machine: "order",
      version: 1,
      initial_ctx: { amount: 3 },
    });
    const paid = await sm.applyEvent({ instance_id: "o1", event: "PAY", payload: { ready: true } });
    assert.deepEqual(paid.ctx, { amount: 3, ready: true });
    assert.equal(paid.applied, true);
    const shipped = await sm.applyEvent({ instance_id: "o1", event: "SHIP", payload: [1, 2] });
    assert.deepEqual(shipped.ctx, { amount: 3, ready: true });
    assert.equal((await sm.getInstance({ instance_id: "o1" })).state, "shipped");
    await sm.putMachine({
      machine: "order",
      version: 2,
      definition: { ...ORDER, initial: "paid" },
    });
    assert.equal((await sm.getInstance({ instance_id: "o1" })).version, 1);
    await assert.rejects(
      sm.createInstance({ instance_id: "o1", machine: "order", version: 1, initial_ctx: {} }),
      code("INSTANCE_EXISTS"),
    );
    await assert.rejects(
      sm.createInstance({ machine: "order", version: 9, initial_ctx: {} }),
      code("MACHINE_NOT_FOUND"),
    );
    const first = await sm.deleteInstance({ instance_id: "o1" });
    assert.equal((await sm.getInstance({ instance_id: "o1" })).deleted, true, "soft delete");
    assert.deepEqual(await sm.deleteInstance({ instance_id: "o1" }), first);
    await assert.rejects(
      sm.applyEvent({ instance_id: "o1", event: "PAY", payload: null }),
      code("INSTANCE_NOT_FOUND"),
    );
    await sm.close();
  });
});

Deno.test("sm engine - idempotent retries return the first result, also after a restart", async () => {
  await withEngine({}, async (open) => {
    let sm = await open();
    await sm.putMachine({ machine: "order", version: 1, definition: ORDER });
    const create = {
      machine: "order",
      version: 1,
      initial_ctx: { amount: 1 },
      idempotency_key: "c1",
    };
    const first = await sm.createInstance(create);
    const again = await sm.createInstance(create);
    assert.equal(
      again.instance_id,
      first.instance_id,
      "a retry without instance_id finds the generated one",
    );
    assert.equal(again.applied, false);
    const pay = {
      instance_id: first.instance_id as string,
      event: "PAY",
      payload: { n: 1 },
      idempotency_key: "p1",
    };
    const paid = await sm.applyEvent(pay);
    await sm.close();
    sm = await open();
    const repeat = await sm.applyEvent(pay);
    assert.deepEqual(repeat, { ...paid, applied: false });
    await assert.rejects(sm.applyEvent({ ...pay, payload: { n: 2 } }), code("CONFLICT"));
    await sm.close();
  });
});

Deno.test("sm engine - idempotency keys expire after the window", async () => {
  let now = 1_000_000;
  await withEngine({ idempotencyWindowMs: 1000, now: () => now }, async (open) => {
    const sm = await open();
    await sm.putMachine({ machine: "order", version: 1, definition: ORDER });
    const create = { machine: "order", version: 1, initial_ctx: {}, idempotency_key: "k" };
    const a = await sm.createInstance(create);
    now += 1001;
    const b = await sm.createInstance(create);
    assert.notEqual(a.instance_id, b.instance_id);
    await sm.close();
  });
});

Deno.test("sm engine - an atomic batch that fails leaves nothing behind, also on disk", async () => {
  await withEngine({}, async (open) => {
    let sm = await open();
    await sm.putMachine({ machine: "order", version: 1, definition: ORDER });
    await assert.rejects(
      sm.batch("atomic", [
        {
          op: "CREATE_INSTANCE",
          params: { instance_id: "a", machine: "order", version: 1, initial_ctx: { amount: 1 } },
        },
        { op: "APPLY_EVENT", params: { instance_id: "a", event: "PAY", payload: null } },
        { op: "APPLY_EVENT", params: { instance_id: "a", event: "SHIP", payload: null } },
      ]),
      (e: unknown) =>
        e instanceof SmError && e.code === "BAD_REQUEST" && e.details?.code === "GUARD_FAILED" &&
        e.details?.op_index === 2,
    );
    await assert.rejects(sm.getInstance({ instance_id: "a" }), code("INSTANCE_NOT_FOUND"));
    const ok = await sm.batch("atomic", [
      {
        op: "CREATE_INSTANCE",
        params: { instance_id: "a", machine: "order", version: 1, initial_ctx: { amount: 1 } },
      },
      { op: "APPLY_EVENT", params: { instance_id: "a", event: "PAY", payload: null } },
      { op: "GET_INSTANCE", params: { instance_id: "a" } },
    ]);
    assert.deepEqual(ok.results.map((r) => r.status), ["ok", "ok", "ok"]);
    const mixed = await sm.batch("best_effort", [
      { op: "APPLY_EVENT", params: { instance_id: "a", event: "PAY", payload: null } },
      { op: "APPLY_EVENT", params: { instance_id: "a", event: "CANCEL", payload: null } },
    ]);
    assert.deepEqual(mixed.results.map((r) => r.status), ["error", "ok"]);
    await sm.close();
    sm = await open();
    assert.equal((await sm.getInstance({ instance_id: "a" })).state, "cancelled");
    await sm.close();
  });
});

Deno.test("sm engine - compaction then restart keeps machines, instances and keys; WAL tail replays", async () => {
  await withEngine({ segmentBytes: 2048 }, async (open) => {
    let sm = await open();
    await sm.putMachine({ machine: "order", version: 1, definition: ORDER });
    for (let i = 0; i < 50; i++) {
      await sm.createInstance({
        instance_id: `o${i}`,
        machine: "order",
        version: 1,
        initial_ctx: { amount: i + 1 },
      });
    }
    const compacted = await sm.compact(true);
    assert.equal(compacted.snapshots_created, 1);
    assert.ok((compacted.segments_deleted as number) > 0);
    await sm.applyEvent({ instance_id: "o7", event: "PAY", payload: null, idempotency_key: "k7" });
    await sm.close();
    sm = await open();
    assert.deepEqual(sm.listMachines(), { items: [{ machine: "order", versions: [1] }] });
    assert.equal((await sm.getInstance({ instance_id: "o7" })).state, "paid");
    assert.equal((await sm.getInstance({ instance_id: "o49" })).state, "created");
    const repeat = await sm.applyEvent({
      instance_id: "o7",
      event: "PAY",
      payload: null,
      idempotency_key: "k7",
    });
    assert.equal(repeat.applied, false);
    const read = await sm.walRead(0, 10);
    assert.ok(
      (read.records as { sequence: number }[])[0].sequence > 1,
      "compacted records are gone",
    );
    await sm.close();
  });
});

Deno.test("sm engine - listing pages in creation order with offsets and cursors", async () => {
  await withEngine({}, async (open) => {
    const sm = await open();
    await sm.putMachine({ machine: "order", version: 1, definition: ORDER });
    for (let i = 0; i < 10; i++) {
      await sm.createInstance({
        instance_id: `o${i}`,
        machine: "order",
        version: 1,
        initial_ctx: { amount: 1 },
      });
    }
    for (const i of [2, 5, 8]) {
      await sm.applyEvent({ instance_id: `o${i}`, event: "PAY", payload: null });
    }
    const ids = (r: Record<string, unknown>) => (r.instances as { id: string }[]).map((i) => i.id);
    const page1 = await sm.listInstances({ limit: 4, offset: 0 });
    assert.deepEqual(ids(page1), ["o0", "o1", "o2", "o3"]);
    assert.equal(page1.total, 10);
    assert.equal(page1.has_more, true);
    const page2 = await sm.listInstances({
      limit: 4,
      offset: 0,
      cursor: page1.next_cursor as string,
    });
    assert.deepEqual(ids(page2), ["o4", "o5", "o6", "o7"]);
    const paid = await sm.listInstances({ machine: "order", state: "paid", limit: 100, offset: 1 });
    assert.deepEqual(ids(paid), ["o5", "o8"]);
    assert.equal(paid.total, 3);
    assert.equal(paid.has_more, false);
    await sm.close();
  });
});

Deno.test("sm engine - changes reach listeners in WAL order, creations and deletions included", async () => {
  await withEngine({ fsync: { kind: "interval", ms: 5 } }, async (open) => {
    const sm = await open();
    const seen: Change[] = [];
    sm.onChange((c) => seen.push(c));
    await sm.putMachine({ machine: "order", version: 1, definition: ORDER });
    await sm.createInstance({
      instance_id: "x",
      machine: "order",
      version: 1,
      initial_ctx: { amount: 1 },
    });
    await Promise.all([
      sm.applyEvent({ instance_id: "x", event: "PAY", payload: null }),
      sm.applyEvent({ instance_id: "x", event: "CANCEL", payload: null }),
    ]);
    await sm.deleteInstance({ instance_id: "x" });
    assert.deepEqual(seen.map((c) => c.event), ["$created", "PAY", "CANCEL", "$deleted"]);
    const offsets = seen.map((c) => c.walOffset);
    assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
    const replayed: Change[] = [];
    for await (const batch of sm.readChanges(1, sm.durableOffset)) replayed.push(...batch);
    assert.deepEqual(replayed, seen);
    await sm.close();
  });
});

Deno.test("sm engine - machine version cap", async () => {
  await withEngine({ maxMachineVersions: 1 }, async (open) => {
    const sm = await open();
    await sm.putMachine({ machine: "m", version: 1, definition: ORDER });
    await assert.rejects(
      sm.putMachine({ machine: "m", version: 2, definition: ORDER }),
      code("MACHINE_VERSION_LIMIT_EXCEEDED"),
    );
    await sm.close();
  });
});

Deno.test("sm engine - a write that cannot be encoded fails alone and does not wedge the WAL", async () => {
  await withEngine({}, async (open) => {
    const sm = await open();
    await sm.putMachine({ machine: "order", version: 1, definition: ORDER });
    let deep: unknown = 1;
    for (let i = 0; i < 8000; i++) deep = { a: deep };
    await sm.createInstance({ instance_id: "o1", machine: "order", version: 1, initial_ctx: {} });
    // JSON.stringify gives up on this (RangeError) while the WAL entry is built.
    await assert.rejects(
      sm.applyEvent({
        instance_id: "o1",
        event: "CANCEL",
        payload: { deep },
        idempotency_key: "k",
      }),
      code("INTERNAL_ERROR"),
    );
    await assert.rejects(
      sm.batch("atomic", [
        { op: "APPLY_EVENT", params: { instance_id: "o1", event: "CANCEL", payload: { deep } } },
      ]),
      code("INTERNAL_ERROR"),
    );
    assert.equal((await sm.getInstance({ instance_id: "o1" })).state, "created");
    const next = await sm.createInstance({ machine: "order", version: 1, initial_ctx: {} });
    assert.equal(next.state, "created");
    await sm.applyEvent({ instance_id: "o1", event: "CANCEL", payload: null });
    await sm.close();
    const reopened = await open();
    assert.equal((await reopened.getInstance({ instance_id: "o1" })).state, "cancelled");
    await reopened.close();
  });
});
