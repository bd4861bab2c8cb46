import assert from "node:assert/strict";
import type { BusMessage } from "../core/message.ts";
import { ReplyPermits } from "../core/replies.ts";
import { type Gap, LagPolicy } from "./lag.ts";

const message = (channel: string, seq: number): BusMessage =>
  ({ channel, seq, epoch: "e1", id: `m${seq}`, time: 0, payload: new Uint8Array() }) as BusMessage;

Deno.test("access - a full queue drops live messages and reports one gap per namespace when drained", async () => {
  let room = 1;
  const queued: number[] = [];
  const drained = Promise.withResolvers<void>();
  const caughtUp = Promise.withResolvers<Gap[]>();
  let lagged = 0;
  const lag = new LagPolicy(
    {
      push: (m) => room-- > 0 && queued.push(m.seq) > 0,
      drained: () => drained.promise,
    },
    new ReplyPermits({ windowMs: 1000, max: 10 }).holder("t"),
    {
      onLag: () => lagged++,
      onCaughtUp: caughtUp.resolve,
    },
  );
  lag.deliver(message("a.x", 1));
  lag.deliver(message("a.x", 2));
  lag.deliver(message("b.x", 7));
  lag.deliver(message("a.x", 3));
  assert.deepEqual(queued, [1]);
  assert.equal(lagged, 1, "told once that it fell behind");
  assert.ok(lag.laggingSince > 0, "the registry can see since when");
  room = 10;
  lag.deliver(message("a.x", 4));
  assert.deepEqual(queued, [1], "still behind until the queue drains");
  drained.resolve();
  assert.deepEqual(await caughtUp.promise, [
    { namespace: "a", epoch: "e1", after: 1 },
    { namespace: "b", epoch: "e1", after: 6 },
  ]);
  assert.equal(lag.laggingSince, 0);
  lag.deliver(message("a.x", 5));
  assert.deepEqual(queued, [1, 5]);
});
