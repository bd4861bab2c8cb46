import { CatbusError } from "../shared/errors.ts";
import type { AckAnswer } from "../shared/messages.ts";

interface WaitingAck {
  seq: number;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Collects the acks of one consumer made in one tick (the handlers of the deliveries one read
 * brought) and hands them to `send` as one list: one ack frame, and one save on the server, for
 * all of them. Each ack still resolves only once the server saved it; one it could not settle
 * rejects alone with the server's reason.
 */
export function ackBatcher(
  send: (seqs: number[]) => Promise<AckAnswer>,
): (seq: number) => Promise<void> {
  let batch: WaitingAck[] = [];
  const flush = () => {
    const acks = batch;
    batch = [];
    send(acks.map((a) => a.seq)).then(({ failed = [] }) => {
      // The server settles in order, so of a seq acked twice the later ack is the one refused:
      // the refusals of a seq belong to its last acks.
      const refused = new Map<number, NonNullable<AckAnswer["failed"]>>();
      for (const f of failed) refused.set(f.seq, [...refused.get(f.seq) ?? [], f]);
      for (let i = acks.length - 1; i >= 0; i--) {
        const f = refused.get(acks[i].seq)?.pop();
        if (f) acks[i].reject(new CatbusError(f.code, f.message));
        else acks[i].resolve();
      }
    }, (e) => acks.forEach((a) => a.reject(e)));
  };
  return (seq) =>
    new Promise((resolve, reject) => {
      if (batch.push({ seq, resolve, reject }) === 1) queueMicrotask(flush);
    });
}
