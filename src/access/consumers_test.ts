import assert from "node:assert/strict";
import { isCatbusError } from "../../client/shared/errors.ts";
import type { BusMessage } from "../core/message.ts";
import type { Consumer, Delivery } from "../streams/consumer.ts";
import { ACK_KINDS } from "../../client/shared/messages.ts";
import { pacedMember, parseAckKind } from "./consumers.ts";

Deno.test("access - ack kinds: one list for every door, ack by default", () => {
  assert.equal(parseAckKind(undefined, "kind"), "ack");
  for (const kind of ACK_KINDS) assert.equal(parseAckKind(kind, "kind"), kind);
  assert.throws(
    () => parseAckKind("maybe", '"kind"'),
    (e) =>
      isCatbusError(e) && e.code === "bad_request" &&
      /"kind" must be one of ack, nak/.test(e.message),
  );
});

Deno.test("access - a consumer member takes no more while congested and wakes the consumer when ready", async () => {
  let congested = false;
  const ready = Promise.withResolvers<void>();
  const woken = Promise.withResolvers<void>();
  const sent: number[] = [];
  const delivered: number[] = [];
  const consumer = { wake: () => woken.resolve() } as unknown as Consumer;
  const member = pacedMember(
    consumer,
    { congested: () => congested, ready: () => ready.promise },
    (d) => {
      sent.push(d.message.seq);
      congested = true;
    },
    (m: BusMessage) => delivered.push(m.seq),
  );
  assert.equal(member.hasRoom(), true);
  member.deliver({ message: { seq: 1 } as BusMessage, consumer: "c", attempt: 1 } as Delivery);
  assert.deepEqual([sent, delivered], [[1], [1]]);
  assert.equal(member.hasRoom(), false);
  congested = false;
  ready.resolve();
  await woken.promise;
  assert.equal(member.hasRoom(), true);
});
