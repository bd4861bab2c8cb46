import { CatbusError, ErrorCode } from "../shared/errors.ts";
import { FrameType } from "../shared/frame.ts";
import type { AckAnswer, AckKind, ConsumerInfo, StartFrom } from "../shared/messages.ts";
import { ackBatcher } from "./ack-batch.ts";
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
  /**
   * Deliveries per message before it goes to the dead-letter channel (default 5; 0 = no limit);
   * a nak'd delivery counts.
   */
  maxDeliver?: number;
  /** Delays in ms before the 1st, 2nd, … redelivery (the last one repeats). */
  backoff?: number[];
  /** Unacked deliveries at most, across members (default 1000). */
  maxInFlight?: number;
  /**
   * Default `$sys.dlq.<name>`. Another channel needs a write grant on it (and create for a new
   * namespace); other `$sys` channels are refused.
   */
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

/** Sends a request frame and resolves with the answer's meta (the client's own request path). */
type Request = (
  type: number,
  meta: unknown,
) => Promise<Record<string, unknown>>;

/**
 * The consumers one client consumes: binding (and re-binding after each reconnect), handing
 * deliveries to their handlers, and sending acks.
 */
export class Consumptions {
  readonly #entries = new Map<
    string,
    {
      handler: ConsumeHandler;
      options: ConsumeOptions;
      acks: boolean;
      /** Sends an ack, with the others of its tick. */
      ack: (seq: number) => Promise<void>;
    }
  >();
  readonly #request: Request;
  readonly #connected: () => boolean;

  constructor(request: Request, connected: () => boolean) {
    this.#request = request;
    this.#connected = connected;
  }

  async consume(
    name: string,
    handler: ConsumeHandler,
    options: ConsumeOptions,
  ): Promise<Consumption> {
    if (this.#entries.has(name)) {
      throw new CatbusError(
        ErrorCode.Conflict,
        `this client already consumes "${name}"`,
      );
    }
    const ack = ackBatcher((seqs) =>
      this.#request(
        FrameType.Ack,
        seqs.length === 1 ? { consumer: name, seq: seqs[0] } : { consumer: name, seqs },
      ) as Promise<AckAnswer>
    );
    const entry = { handler, options, acks: true, ack };
    // Registered first: deliveries may arrive right behind the answer.
    this.#entries.set(name, entry);
    try {
      const info = await this.#request(FrameType.Consume, { name, ...options });
      entry.acks = (info as unknown as ConsumerInfo).ackPolicy !== "none";
    } catch (e) {
      this.#entries.delete(name);
      throw e;
    }
    return {
      name,
      stop: async () => {
        if (this.#entries.delete(name) && this.#connected()) {
          await this.#request(FrameType.Stop, { name }).catch(() => {});
        }
      },
    };
  }

  /** The server ended this binding (its read grant was revoked): not bound again. */
  forget(name: string): void {
    this.#entries.delete(name);
  }

  /** After a reconnect: binds again to every consumer (unacked messages come back). */
  rebind(onError: (e: CatbusError) => void): void {
    for (const [name, { options }] of this.#entries) {
      this.#request(FrameType.Consume, { name, ...options }).catch((e) =>
        onError(
          new CatbusError(
            e.code ?? ErrorCode.Internal,
            `consume ${name} failed: ${e.message}`,
          ),
        )
      );
    }
  }

  /** A delivery of `meta.consumer`: runs its handler, which settles it. */
  dispatch(
    meta: MessageMeta & { consumer: string; attempt?: number },
    payload: unknown,
    onError: (e: unknown) => void,
  ): void {
    const { consumer, seq } = meta;
    const entry = this.#entries.get(consumer);
    if (!entry) return; // stopped meanwhile: the server redelivers it elsewhere
    const settle = (kind: AckKind, delay?: number) =>
      !entry.acks
        ? Promise.resolve()
        : kind === "ack"
        ? entry.ack(seq)
        : this.#request(FrameType.Ack, { consumer, seq, kind, delay }).then(() => {});
    runConsumeHandler(
      entry.handler,
      consumedMessage(meta.channel, payload, meta, settle),
      onError,
    );
  }
}
