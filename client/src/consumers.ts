import type { AckKind } from "../../src/streams/consumer.ts";
import type { ConsumerInfo, StartFrom } from "../../src/protocol/messages.ts";
import type { MessageMeta } from "./subscriptions.ts";

/** A durable consumer's settings; only `name` and `pattern` are required (docs/protocol.md). */
export interface ConsumerSettings {
  name: string;
  /** Filter; starts with a namespace name, e.g. `orders.>`. */
  pattern: string;
  /** Where a new consumer starts (default "new"). */
  from?: StartFrom;
  /** "explicit" (default): each message waits for an ack; "none": delivered once. */
  ackPolicy?: "explicit" | "none";
  /** Redeliver when not acked within this many ms (default 30000). */
  ackWait?: number;
  /** Deliveries per message before it goes to the dead-letter channel (default 5; 0 = no limit). */
  maxDeliver?: number;
  /** Delays in ms before the 1st, 2nd, … redelivery (the last one repeats). */
  backoff?: number[];
  /** Unacked deliveries at most, across members (default 1000). */
  maxInFlight?: number;
  /** Default `$sys.dlq.<name>`. */
  deadLetter?: string;
}

export type { ConsumerInfo };

/** A message delivered by a durable consumer, with the ways to settle it. */
export interface ConsumedMessage {
  channel: string;
  payload: unknown;
  meta: MessageMeta;
  /** 1 on the first delivery, then 2, 3, … */
  attempt: number;
  /** Done: never deliver again. Resolves once the server saved it. */
  ack(): Promise<void>;
  /** Not done: deliver again, after `delayMs` or the consumer's backoff. */
  nak(delayMs?: number): Promise<void>;
  /** Still working on it: restart the ack wait. */
  inProgress(): Promise<void>;
  /** Never deliver again; it goes to the dead-letter channel with reason "terminated". */
  term(): Promise<void>;
  /** True once ack, nak or term was called. */
  readonly settled: boolean;
}

/**
 * The handler of `consume()`. Unless it settled the message itself, the message is acked when
 * the handler returns (or its promise resolves) and nak'd when it throws.
 */
export type ConsumeHandler = (message: ConsumedMessage) => unknown;

export interface ConsumeOptions {
  /** Unacked deliveries to this client at most (default: the consumer's maxInFlight). */
  maxInFlight?: number;
}

export interface Consumption {
  readonly name: string;
  /** Stops receiving; unacked messages go to other members (or wait for the next consume). */
  stop(): Promise<void>;
}

type Settle = (kind: AckKind, delay?: number) => Promise<void>;

/** Wraps one delivery; `settle` sends the ack frame. */
export function consumedMessage(
  channel: string,
  payload: unknown,
  meta: MessageMeta & { attempt?: number },
  settle: Settle,
): ConsumedMessage {
  let settled = false;
  const final = (kind: AckKind, delay?: number) => {
    settled = true;
    return settle(kind, delay);
  };
  return {
    channel,
    payload,
    meta,
    attempt: meta.attempt ?? 1,
    ack: () => final("ack"),
    nak: (delayMs) => final("nak", delayMs),
    inProgress: () => settle("progress"),
    term: () => final("term"),
    get settled() {
      return settled;
    },
  };
}

/** Runs the handler and settles for it when it did not: ack on success, nak on failure. */
export async function runConsumeHandler(
  handler: ConsumeHandler,
  message: ConsumedMessage,
  onError: (e: unknown) => void,
): Promise<void> {
  try {
    await handler(message);
    if (!message.settled) await message.ack();
  } catch (e) {
    onError(e);
    if (!message.settled) await message.nak().catch(onError);
  }
}
