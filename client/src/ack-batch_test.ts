import assert from "node:assert/strict";
import { CatbusError, ErrorCode } from "../shared/errors.ts";
import type { AckAnswer } from "../shared/messages.ts";
import { ackBatcher } from "./ack-batch.ts";

/** A sender that records each list and answers it from `answer`. */
function recorder(answer: (seqs: number[]) => Promise<AckAnswer>) {
  const sent: number[][] = [];
  const ack = ackBatcher((seqs) => {
    sent.push(seqs);
    return answer(seqs);
  });
  return { sent, ack };
}

const outcome = (p: Promise<void>) =>
  p.then(() => "ok", (e) => e instanceof CatbusError ? e.code : String(e));

Deno.test("ack batch - the acks of one tick leave together; a refused one rejects alone, the later of a repeated seq", async () => {
  const { sent, ack } = recorder(() =>
    Promise.resolve({
      failed: [
        { seq: 1, code: ErrorCode.NotFound, message: "acked already" },
        { seq: 9, code: ErrorCode.NotFound, message: "not delivered" },
      ],
    })
  );
  const results = await Promise.all([ack(1), ack(2), ack(1), ack(9)].map(outcome));
  assert.deepEqual(sent, [[1, 2, 1, 9]]);
  assert.deepEqual(results, ["ok", "ok", "not_found", "not_found"]);
  await ack(3);
  assert.deepEqual(sent, [[1, 2, 1, 9], [3]]);
});

Deno.test("ack batch - a request that fails rejects every ack it carried", async () => {
  const { ack } = recorder(() =>
    Promise.reject(new CatbusError(ErrorCode.Unavailable, "connection lost"))
  );
  assert.deepEqual(await Promise.all([ack(1), ack(2)].map(outcome)), [
    "unavailable",
    "unavailable",
  ]);
});
