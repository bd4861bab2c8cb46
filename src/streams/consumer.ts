import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { BusMessage } from "../core/message.ts";
import { matcherFor } from "../../client/shared/subject.ts";
import type { AckKind, ConsumerConfig } from "../../client/shared/messages.ts";
import type { Logger } from "../core/logger.ts";

/** One delivery of a consumer's message to a member; `attempt` counts from 1. */
export interface Delivery {
  consumer: string;
  message: BusMessage;
  attempt: number;
}

/** A connection bound to a consumer (a queue-group member). */
export interface ConsumerMember {
  /** False while the member's connection is congested; it calls `wake()` once it drains. */
  hasRoom(): boolean;
  deliver(delivery: Delivery): void;
}

/** Why a message went to the dead-letter channel. */
export type DeadLetterReason = "max_deliver" | "terminated";

/** What a consumer needs from the server around it. */
export interface ConsumerHost {
  /** The namespace's unexpired messages from `fromSeq` on (within the per-channel limit). */
  read(fromSeq: number): AsyncIterable<BusMessage[]>;
  /** Stores the message on the dead-letter channel; rejects when it could not. */
  deadLetter(message: BusMessage, reason: DeadLetterReason, attempts: number): Promise<void>;
  /** A delivery of message `seq` was acked (publish confirmations count these). */
  acked(seq: number): void;
  /** The state changed; resolves once it is saved (immediately without storage). */
  changed(): Promise<void>;
  log: Logger;
  now(): number;
  /** False while another node runs this consumer (it holds the consumer's lease). */
  mayDeliver?(): boolean;
  /** Serves this node's members from the node that runs the consumer (consumer-relay.ts). */
  remote?: ConsumerRemote;
}

/**
 * What a consumer tells the node that runs it while it runs elsewhere: its members here join
 * and leave (every join and leave is told; the relay knows which to forward), and their
 * settlements go there.
 */
export interface ConsumerRemote {
  joined(member: ConsumerMember, maxInFlight: number): void;
  left(member: ConsumerMember): void;
  settle(seq: number, kind: AckKind, delayMs?: number): Promise<void>;
}

/** A settlement of a batch that could not be applied, and why. */
export interface SettleFailure {
  seq: number;
  error: CatbusError;
}

const failure = (seq: number, e: unknown): SettleFailure => ({
  seq,
  error: e instanceof CatbusError ? e : new CatbusError(ErrorCode.Internal, String(e)),
});

/** A consumer's state as saved: enough to go on after a restart. */
export interface ConsumerState {
  config: ConsumerConfig;
  epoch: string;
  /** Next sequence of the stream to look at. */
  cursor: number;
  /** Unacked deliveries: [seq, attempts so far]. */
  pending: [number, number][];
}

interface Pending {
  seq: number;
  /** Deliveries so far. */
  attempt: number;
  /** Undefined after a restart until read again from the stream. */
  message?: BusMessage;
  /** Who holds it; undefined while it waits for (re)delivery. */
  member?: ConsumerMember;
  /** With a member: the ack deadline. Without: when it may be redelivered. */
  deadline: number;
  /** Being written to the dead-letter channel. */
  dead?: boolean;
  /** Given up on (term, max deliver): a failed dead-letter write is retried, never redelivered. */
  givenUp?: DeadLetterReason;
}

interface MemberSlot {
  member: ConsumerMember;
  maxInFlight: number;
  inFlight: number;
}

/**
 * A durable consumer over one namespace's stream: at-least-once delivery with acks, ack wait,
 * redelivery with backoff, max deliver and a dead-letter channel, shared by any number of
 * members (a queue group: each message goes to one member at a time).
 *
 * Everything is driven by `#pump`, which runs one at a time: due redeliveries first, then new
 * messages from the cursor, while the consumer and some member have room.
 */
export class Consumer {
  readonly config: ConsumerConfig;
  #epoch: string;
  readonly #host: ConsumerHost;
  readonly #wanted: (channel: string) => boolean;
  readonly #pending = new Map<number, Pending>();
  /** Pending entries held by no member (waiting for redelivery): the only ones pumps look at. */
  readonly #waiting = new Set<Pending>();
  readonly #members = new Map<ConsumerMember, MemberSlot>();
  /** The same slots in join order, for round robin without an array per delivery. */
  #rotation: MemberSlot[] = [];
  #cursor: number;
  /** Messages read from the stream at or after the cursor, not yet looked at. */
  #ahead: BusMessage[] = [];
  #aheadAt = 0;
  #turn = 0;
  #pumping = false;
  #again = false;
  #timer?: ReturnType<typeof setInterval>;
  /** One timer for the soonest scheduled redelivery (nak delays, backoff). */
  #wakeTimer?: ReturnType<typeof setTimeout>;
  #wakeTime = Infinity;
  #closed = false;
  readonly #counts = { redelivered: 0, deadLettered: 0 };

  constructor(host: ConsumerHost, state: Omit<ConsumerState, "pending"> & Partial<ConsumerState>) {
    this.#host = host;
    this.config = state.config;
    this.#epoch = state.epoch;
    this.#cursor = state.cursor;
    this.#wanted = matcherFor(state.config.pattern);
    this.#adoptPending(state.pending ?? []);
  }

  get epoch(): string {
    return this.#epoch;
  }

  /**
   * Goes on from `state`, saved by the node that ran the consumer before: what that node had
   * delivered and not seen acked is delivered again (at least once).
   */
  restore(state: ConsumerState): void {
    this.#epoch = state.epoch;
    this.#cursor = state.cursor;
    this.#ahead = [];
    this.#aheadAt = 0;
    this.#pending.clear();
    this.#waiting.clear();
    for (const slot of this.#members.values()) slot.inFlight = 0;
    this.#adoptPending(state.pending);
    this.wake();
  }

  #adoptPending(pending: [number, number][]): void {
    const now = this.#host.now();
    for (const [seq, attempt] of pending) {
      const p = { seq, attempt, deadline: now };
      this.#pending.set(seq, p);
      this.#waiting.add(p);
    }
  }

  get name(): string {
    return this.config.name;
  }

  state(): ConsumerState {
    return {
      config: this.config,
      epoch: this.epoch,
      cursor: this.#cursor,
      pending: [...this.#pending.values()].map((p) => [p.seq, p.attempt]),
    };
  }

  /** Unacked messages now, and redeliveries and dead letters since this process loaded it. */
  counts(): { pending: number; redelivered: number; deadLettered: number } {
    return { pending: this.#pending.size, ...this.#counts };
  }

  info(): { name: string; cursor: number; pending: number; members: number } & ConsumerConfig {
    return {
      ...this.config,
      cursor: this.#cursor,
      pending: this.#pending.size,
      members: this.#members.size,
    };
  }

  /** Adds a member; it gets at most `maxInFlight` unacked deliveries at a time. */
  join(member: ConsumerMember, maxInFlight = this.config.maxInFlight): void {
    const slot = { member, maxInFlight, inFlight: 0 };
    this.#members.set(member, slot);
    this.#rotation.push(slot);
    this.#startTimer();
    this.#host.remote?.joined(member, maxInFlight);
    this.wake();
  }

  /** Removes a member; what it held unacked goes to the others at once. */
  leave(member: ConsumerMember): void {
    if (!this.#members.delete(member)) return;
    this.#host.remote?.left(member);
    this.#rotation = this.#rotation.filter((slot) => slot.member !== member);
    const now = this.#host.now();
    for (const p of this.#pending.values()) {
      if (p.member === member) {
        this.#release(p);
        p.deadline = now;
      }
    }
    if (this.#members.size === 0) this.#stopTimer();
    this.wake();
  }

  /** True while delivery `seq` awaits a settlement. */
  isPending(seq: number): boolean {
    const p = this.#pending.get(seq);
    return p !== undefined && !p.dead;
  }

  /** Something may be deliverable (a new message, a member with room again). */
  wake(): void {
    if (this.#closed || this.#members.size === 0) return;
    this.#pump().catch((e) =>
      this.#host.log("warn", "consumer delivery failed", { consumer: this.name, error: String(e) })
    );
  }

  /** A new message was published on the consumer's stream. */
  published(message: BusMessage): void {
    if (message.seq >= this.#cursor) this.wake();
  }

  /**
   * Settles delivery `seq`: ack (done), nak (redeliver after `delayMs` or the backoff), progress
   * (restart the ack wait) or term (no more attempts: dead-letter it). Resolves once saved.
   */
  async settle(seq: number, kind: AckKind, delayMs?: number): Promise<void> {
    const [failed] = await this.settleAll([seq], kind, delayMs);
    if (failed) throw failed.error;
  }

  /**
   * Settles the deliveries `seqs` alike, each as `settle` would (a repeated or unknown one fails
   * alone), and saves the new state once for all of them. Resolves once saved, with those that
   * could not be settled and why.
   */
  async settleAll(
    seqs: readonly number[],
    kind: AckKind,
    delayMs?: number,
  ): Promise<SettleFailure[]> {
    if (this.config.ackPolicy === "none") {
      throw new CatbusError(
        ErrorCode.BadRequest,
        `consumer "${this.name}" has ackPolicy "none": its deliveries take no acks`,
      );
    }
    const host = this.#host;
    if (host.remote && host.mayDeliver && !host.mayDeliver()) {
      const remote = host.remote;
      const settled = await Promise.allSettled(
        seqs.map((seq) => remote.settle(seq, kind, delayMs)),
      );
      return settled.flatMap((r, i) =>
        r.status === "fulfilled" ? [] : [failure(seqs[i], r.reason)]
      );
    }
    const failed: SettleFailure[] = [];
    let changed = false;
    const now = host.now();
    for (const seq of seqs) {
      const error = this.#settleOne(seq, kind, now, delayMs);
      if (error) failed.push({ seq, error });
      else changed ||= kind !== "progress";
    }
    if (!changed) return failed;
    const saved = host.changed();
    this.wake();
    await saved;
    return failed;
  }

  /** Applies one settlement in memory; the reason when it cannot be applied. */
  #settleOne(seq: number, kind: AckKind, now: number, delayMs?: number): CatbusError | undefined {
    const p = this.#pending.get(seq);
    if (!p || p.dead) {
      return new CatbusError(
        ErrorCode.NotFound,
        seq < this.#cursor
          ? `consumer "${this.name}" has no unacked delivery of #${seq}: it was acked or ` +
            "terminated already"
          : `consumer "${this.name}" has not delivered #${seq} yet`,
      );
    }
    if (kind === "progress") {
      if (!p.member) {
        return new CatbusError(
          ErrorCode.Conflict,
          `delivery #${seq} of consumer "${this.name}" already timed out and will be ` +
            "redelivered; ack it if it was processed",
        );
      }
      p.deadline = now + this.config.ackWaitMs;
      return undefined;
    }
    this.#release(p);
    if (kind === "ack") {
      this.#forget(p);
      this.#host.acked(seq);
    } else if (kind === "nak") {
      this.#retryLater(p, now, delayMs);
    } else {
      this.#sendToDeadLetter(p, "terminated");
    }
    return undefined;
  }

  /** Stops timers; the state stays where the host saved it. */
  close(): void {
    this.#closed = true;
    this.#stopTimer();
    clearTimeout(this.#wakeTimer);
    this.#members.clear();
    this.#rotation = [];
  }

  /** Max deliver holds on every path: ack wait, nak, a member leaving, a restart. */
  #exhausted(p: Pending): boolean {
    const max = this.config.maxDeliver;
    return max > 0 && p.attempt >= max;
  }

  /**
   * A failed attempt (ack wait ran out, or a nak): schedule the redelivery after `delayMs` or
   * the backoff, or give up when max deliver is reached. True when the redelivery is due now.
   */
  #retryLater(p: Pending, now: number, delayMs = this.#backoff(p.attempt)): boolean {
    if (this.#exhausted(p)) {
      this.#sendToDeadLetter(p, "max_deliver");
      return false;
    }
    p.deadline = now + delayMs;
    if (p.deadline <= now) return true;
    this.#wakeAt(p.deadline);
    return false;
  }

  #backoff(attempt: number): number {
    const schedule = this.config.backoffMs;
    if (schedule.length === 0) return 0;
    return schedule[Math.min(attempt, schedule.length) - 1];
  }

  /** Takes the delivery back from its member: it now waits for redelivery. */
  #release(p: Pending) {
    if (!p.member) return;
    const slot = this.#members.get(p.member);
    if (slot) slot.inFlight--;
    p.member = undefined;
    this.#waiting.add(p);
  }

  #forget(p: Pending) {
    this.#pending.delete(p.seq);
    this.#waiting.delete(p);
  }

  /** The next member with room, round robin. */
  #pick(): ConsumerMember | undefined {
    const slots = this.#rotation;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[(this.#turn + i) % slots.length];
      if (slot.inFlight < slot.maxInFlight && slot.member.hasRoom()) {
        this.#turn = (this.#turn + i + 1) % slots.length;
        return slot.member;
      }
    }
    return undefined;
  }

  #hand(member: ConsumerMember, p: Pending, message: BusMessage) {
    if (++p.attempt > 1) this.#counts.redelivered++;
    if (this.config.ackPolicy === "explicit") {
      this.#waiting.delete(p);
      p.member = member;
      p.deadline = this.#host.now() + this.config.ackWaitMs;
      this.#members.get(member)!.inFlight++;
    }
    member.deliver({ consumer: this.name, message, attempt: p.attempt });
  }

  async #pump(): Promise<void> {
    if (this.#host.mayDeliver && !this.#host.mayDeliver()) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        await this.#redeliverDue();
        await this.#deliverNew();
      } while (this.#again && !this.#closed);
    } finally {
      this.#pumping = false;
    }
  }

  async #redeliverDue() {
    const now = this.#host.now();
    for (const p of this.#waiting) {
      if (p.dead) continue;
      if (p.deadline > now) {
        this.#wakeAt(p.deadline);
        continue;
      }
      const giveUp = p.givenUp ?? (this.#exhausted(p) ? "max_deliver" : undefined);
      if (giveUp) {
        this.#sendToDeadLetter(p, giveUp);
        continue;
      }
      p.message ??= await this.#fetch(p.seq);
      if (!p.message) {
        // Retention removed it from the stream while it was unacked.
        this.#forget(p);
        this.#host.log("warn", "unacked message expired from the stream", {
          consumer: this.name,
          seq: p.seq,
        });
        continue;
      }
      const member = this.#pick();
      if (!member) return;
      if (p.member || !this.#pending.has(p.seq)) continue; // settled while reading
      this.#hand(member, p, p.message);
    }
  }

  async #deliverNew() {
    const explicit = this.config.ackPolicy === "explicit";
    const moved = this.#cursor;
    try {
      for (;;) {
        if (this.#closed) return;
        if (explicit && this.#pending.size >= this.config.maxInFlight) return;
        const m = this.#nextAhead() ?? await this.#next();
        if (!m) return;
        if (this.#wanted(m.channel)) {
          const member = this.#pick();
          if (!member) return;
          const p: Pending = { seq: m.seq, attempt: 0, message: m, deadline: 0 };
          if (explicit) this.#pending.set(m.seq, p);
          this.#hand(member, p, m);
        }
        this.#cursor = m.seq + 1;
      }
    } finally {
      if (this.#cursor !== moved) this.#host.changed().catch(() => {});
    }
  }

  /**
   * The stream's message at the cursor (or the first after it), from a read-ahead batch: a
   * consumer that gets one slot back per ack must not read a chunk of the log per message.
   */
  async #next(): Promise<BusMessage | undefined> {
    const ahead = this.#nextAhead();
    if (ahead) return ahead;
    this.#ahead = [];
    this.#aheadAt = 0;
    for await (const batch of this.#host.read(this.#cursor)) {
      this.#ahead = batch;
      break;
    }
    return this.#nextAhead();
  }

  /**
   * `#next` without a read: what the read-ahead holds is handed out in one synchronous pass, so
   * the deliveries of a pump leave in one write.
   */
  #nextAhead(): BusMessage | undefined {
    while (this.#aheadAt < this.#ahead.length && this.#ahead[this.#aheadAt].seq < this.#cursor) {
      this.#aheadAt++;
    }
    return this.#ahead[this.#aheadAt];
  }

  async #fetch(seq: number): Promise<BusMessage | undefined> {
    for await (const batch of this.#host.read(seq)) {
      return batch.find((m) => m.seq === seq);
    }
    return undefined;
  }

  /** Ack deadlines and due redeliveries are checked on a tick while members are attached. */
  #startTimer() {
    if (this.#timer) return;
    const every = Math.min(250, Math.max(5, Math.floor(this.config.ackWaitMs / 5)));
    this.#timer = setInterval(() => this.#tick(), every);
  }

  #stopTimer() {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick() {
    const now = this.#host.now();
    let due = false;
    for (const p of this.#pending.values()) {
      if (p.dead || !p.member || p.deadline > now) continue;
      this.#release(p);
      if (this.#retryLater(p, now)) due = true;
    }
    if (due) this.wake();
  }

  #wakeAt(time: number) {
    if (time >= this.#wakeTime) return;
    clearTimeout(this.#wakeTimer);
    this.#wakeTime = time;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTime = Infinity;
      this.wake();
    }, time - this.#host.now());
  }

  /** Never a silent drop: the pending entry stays until the dead letter is stored. */
  #sendToDeadLetter(p: Pending, reason: DeadLetterReason) {
    p.dead = true;
    p.givenUp = reason;
    const attempts = p.attempt;
    (async () => {
      p.message ??= await this.#fetch(p.seq);
      if (p.message) await this.#host.deadLetter(p.message, reason, attempts);
      this.#counts.deadLettered++;
      this.#forget(p);
      await this.#host.changed();
      this.wake();
    })().catch((e) => {
      p.dead = false;
      p.deadline = this.#host.now() + this.config.ackWaitMs;
      this.#wakeAt(p.deadline);
      this.#host.log("warn", "dead-letter publish failed; will retry", {
        consumer: this.name,
        seq: p.seq,
        error: String(e),
      });
    });
  }
}
