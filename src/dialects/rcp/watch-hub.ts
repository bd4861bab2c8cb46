import type { Change } from "../../sm/change.ts";
import type { StateMachineEngine } from "../../sm/engine.ts";
import { SmError, SmErrorCode } from "../../sm/errors.ts";

/** What WATCH_INSTANCE / WATCH_ALL select. Empty lists match everything. */
export interface WatchFilter {
  instanceId?: string;
  machines: string[];
  fromStates: string[];
  toStates: string[];
  events: string[];
}

/** Where a subscription's events go (one RCP connection). */
export interface WatchSink {
  /** A promise while the connection has more queued than it may (replays wait on it). */
  backlog(): Promise<void> | undefined;
  /** Queues the event; returns false when the connection is too far behind to take it. */
  deliver(subscriptionId: string, change: Change, includeCtx: boolean): boolean;
  /** Tells the client the subscription ended because events were dropped (or too large). */
  lost(subscriptionId: string, resumeFromOffset: number): void;
}

export interface WatchOptions {
  includeCtx: boolean;
  /** Also `$created` / `$deleted` changes (rstmdb streams applied events only). */
  lifecycle: boolean;
  /** Replay the WAL from here first. */
  fromOffset?: number;
}

interface Subscription {
  id: string;
  filter: WatchFilter;
  includeCtx: boolean;
  lifecycle: boolean;
  sink: WatchSink;
  /** Live changes held back while the subscription replays the WAL. */
  held?: Change[];
  /** False once unwatched or dropped (a replay in progress stops). */
  active: boolean;
}

const matches = (sub: Subscription, c: Change, f = sub.filter) =>
  (sub.lifecycle || c.kind === "transition") &&
  (f.instanceId === undefined || f.instanceId === c.instanceId) &&
  (!f.machines.length || f.machines.includes(c.machine)) &&
  (!f.fromStates.length || f.fromStates.includes(c.fromState)) &&
  (!f.toStates.length || f.toStates.includes(c.toState)) &&
  (!f.events.length || f.events.includes(c.event));

/**
 * All watch subscriptions of one engine. Subscriptions on one instance are indexed by its id,
 * so a change is only tested against the watch-all subscriptions and its instance's watchers.
 *
 * A subscription with `from_offset` first replays the WAL up to the durable offset at the time
 * it was made, holding live changes meanwhile, then releases those past the replay: no gap and
 * no duplicate. One that cannot keep up is ended with a `lost` notice naming the offset to
 * resume from — never a silent drop.
 */
export class WatchHub {
  readonly #engine: StateMachineEngine;
  readonly #byId = new Map<string, Subscription>();
  /** Watch-all subscriptions (no instance id). */
  readonly #all = new Map<string, Subscription>();
  readonly #byInstance = new Map<string, Map<string, Subscription>>();
  readonly #unlisten: () => void;
  #nextId = 1;

  constructor(engine: StateMachineEngine) {
    this.#engine = engine;
    this.#unlisten = engine.onChange((c) => this.#dispatch(c));
  }

  /** Registers a subscription (replaying from `fromOffset` when given); returns its id. */
  watch(sink: WatchSink, filter: WatchFilter, options: WatchOptions): string {
    const { includeCtx, lifecycle, fromOffset } = options;
    if (fromOffset !== undefined && fromOffset < this.#engine.oldestOffset) {
      throw new SmError(
        SmErrorCode.Conflict,
        `from_offset ${fromOffset} was compacted away; the oldest offset still in the WAL is ` +
          `${this.#engine.oldestOffset}: read the current state (GET_INSTANCE) and watch from there`,
        { details: { oldest_offset: this.#engine.oldestOffset } },
      );
    }
    const sub: Subscription = {
      id: `sub-${crypto.randomUUID().slice(0, 8)}-${this.#nextId++}`,
      filter,
      includeCtx,
      lifecycle,
      sink,
      held: fromOffset !== undefined ? [] : undefined,
      active: true,
    };
    this.#byId.set(sub.id, sub);
    if (filter.instanceId !== undefined) {
      let subs = this.#byInstance.get(filter.instanceId);
      if (!subs) this.#byInstance.set(filter.instanceId, subs = new Map());
      subs.set(sub.id, sub);
    } else this.#all.set(sub.id, sub);
    if (fromOffset !== undefined) this.#replay(sub, fromOffset, this.#engine.durableOffset);
    return sub.id;
  }

  unwatch(id: string): boolean {
    const sub = this.#byId.get(id);
    if (!sub) return false;
    sub.active = false;
    this.#byId.delete(id);
    if (sub.filter.instanceId === undefined) this.#all.delete(id);
    else {
      const subs = this.#byInstance.get(sub.filter.instanceId)!;
      subs.delete(id);
      if (!subs.size) this.#byInstance.delete(sub.filter.instanceId);
    }
    return true;
  }

  close(): void {
    this.#unlisten();
    this.#byId.clear();
    this.#all.clear();
    this.#byInstance.clear();
  }

  /** Replays at the pace the connection writes (it waits instead of overflowing). */
  async #replay(sub: Subscription, from: number, upTo: number) {
    try {
      for await (const changes of this.#engine.readChanges(from, upTo)) {
        for (const c of changes) {
          await sub.sink.backlog();
          if (!this.#send(sub, c)) return;
        }
      }
      for (const c of sub.held!) if (c.walOffset > upTo && !this.#send(sub, c)) return;
      sub.held = undefined;
    } catch {
      this.#drop(sub, from);
    }
  }

  #dispatch(change: Change) {
    for (const sub of this.#all.values()) this.#offer(sub, change);
    const subs = this.#byInstance.get(change.instanceId);
    if (subs) { for (const sub of subs.values()) this.#offer(sub, change); }
  }

  #offer(sub: Subscription, change: Change) {
    if (sub.held) sub.held.push(change);
    else this.#send(sub, change);
  }

  /** Delivers if the filter matches; false when the subscription was dropped. */
  #send(sub: Subscription, change: Change): boolean {
    if (!sub.active) return false;
    if (!matches(sub, change)) return true;
    if (sub.sink.deliver(sub.id, change, sub.includeCtx)) return true;
    this.#drop(sub, change.walOffset);
    return false;
  }

  #drop(sub: Subscription, resumeFrom: number) {
    if (!this.unwatch(sub.id)) return;
    sub.sink.lost(sub.id, resumeFrom);
  }
}
