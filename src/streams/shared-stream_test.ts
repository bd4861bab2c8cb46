import assert from "node:assert/strict";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { BusMessage } from "../core/message.ts";
import { within } from "../../test/helpers/deadline.ts";
import { encodeStored } from "./record.ts";
import { type Entry, SharedStream } from "./shared-stream.ts";

const entry = (seq: number): Entry => ({
  seq,
  time: seq,
  data: encodeStored({
    channel: "ns.x",
    id: `m${seq}`,
    binary: false,
    payload: new Uint8Array(),
    expiresAt: 0,
    key: "",
  }),
});

/** A stream over an array; each read takes its snapshot at once and answers when `gate` opens. */
class ArrayStream extends SharedStream {
  readonly stored: Entry[] = [];
  gate: Promise<void> = Promise.resolve();
  reads = 0;

  constructor(delivered: (messages: BusMessage[]) => void) {
    super(
      { durable: delivered, failed: () => {} },
      {
        where: {},
        lost: new CatbusError(ErrorCode.Unavailable, "lost"),
        warn: () => {},
      },
      { epoch: "e", base: 0, top: 0 },
      false,
    );
  }

  append(): void {}
  /** Something follows (a doorbell): read to the end. */
  ring(): void {
    this.fill(Infinity);
  }
  /** Another node's entry pushed to this node. */
  push(seq: number): void {
    this.accept(entry(seq));
    this.drain();
  }
  async trimBefore(): Promise<void> {}
  async purgeChannel(): Promise<void> {}

  protected async range(from: number, to: number, count: number): Promise<Entry[]> {
    this.reads++;
    const found = this.stored.filter((e) => e.seq >= from && e.seq <= to).slice(0, count);
    await this.gate;
    return found;
  }
  protected newest(): Promise<Entry[]> {
    return Promise.resolve([]);
  }
  protected firstAtOrAfter(): Promise<number> {
    return Promise.resolve(0);
  }
}

function collector() {
  const seqs: number[] = [];
  const waiting: { n: number; done: () => void }[] = [];
  return {
    seqs,
    delivered: (messages: BusMessage[]) => {
      seqs.push(...messages.map((m) => m.seq));
      for (const w of waiting) if (seqs.length >= w.n) w.done();
    },
    until: (n: number) =>
      within(
        new Promise<void>((done) => seqs.length >= n ? done() : waiting.push({ n, done })),
        5_000,
        `${n} messages`,
      ),
  };
}

Deno.test("shared stream - a doorbell during a read to the end makes it read again", async () => {
  const c = collector();
  const stream = new ArrayStream(c.delivered);
  stream.follow();
  stream.stored.push(entry(1));
  let open!: () => void;
  stream.gate = new Promise((r) => open = r);
  stream.ring(); // its read sees only #1
  stream.stored.push(entry(2));
  stream.ring(); // rings for #2 while that read is in flight
  open();
  await c.until(2);
  assert.deepEqual(c.seqs, [1, 2]);
});

Deno.test("shared stream - a read finding a purged hole the node already moved past hands nothing over twice", async () => {
  const c = collector();
  const stream = new ArrayStream(c.delivered);
  stream.follow();
  stream.stored.push(entry(2), entry(3)); // #1 was purged from the engine
  let open!: () => void;
  stream.gate = new Promise((r) => open = r);
  stream.ring(); // reads from #1 and will find #2 first…
  for (const seq of [1, 2, 3]) stream.push(seq); // …while #1 to #3 came live meanwhile
  await c.until(3);
  open();
  stream.stored.push(entry(4));
  stream.ring();
  await c.until(4);
  assert.deepEqual(c.seqs, [1, 2, 3, 4]);
});

Deno.test("shared stream - a message after a gap waits while the gap is read; none twice", async () => {
  const c = collector();
  const stream = new ArrayStream(c.delivered);
  stream.follow();
  stream.stored.push(entry(1), entry(2), entry(3));
  stream.push(3); // #1 and #2 never came to this node
  await c.until(3);
  stream.push(2); // late: already handed over
  stream.stored.push(entry(4));
  stream.ring();
  await c.until(4);
  assert.deepEqual(c.seqs, [1, 2, 3, 4]);
});
