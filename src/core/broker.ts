import { ChannelCap } from "./channel-cap.ts";
import { Confirmations } from "./confirmations.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { HistoryLimits } from "./history.ts";
import { IdGenerator, timeOfId } from "./ids.ts";
import { type BusMessage, forgetEncodings } from "./message.ts";
import { Namespace, type Publishing, type PublishOutcome } from "./namespace.ts";
import { MemoryStream } from "./memory-stream.ts";
import type { AppendRequest, StoreOptions, StreamEngine, StreamListener } from "./stream-engine.ts";
import {
  literalNamespaceOf,
  matcherFor,
  namespaceOf,
  parseChannel,
  parsePattern,
} from "../../client/shared/subject.ts";
import { SubjectTrie } from "../../client/shared/subject-trie.ts";
import type { Position, StartFrom, SubscribedMeta } from "../../client/shared/messages.ts";
import { isReplySubject } from "../../client/shared/reply-subjects.ts";
import type { Peers } from "./peers.ts";
import { type ReadFilter, type StoredChunk, StreamReader } from "./stream-reader.ts";
import type { StoredRecords } from "./stored-records.ts";

export { Namespace, type PublishOutcome } from "./namespace.ts";

/**
 * Something that receives messages: a connection's session. `deliver` must not block or throw;
 * it queues (or drops, under the slow-consumer policy) and returns.
 */
export interface Subscriber {
  deliver(message: BusMessage): void;
  /** Set by the broker: the last message handed over, so overlapping patterns deliver once. */
  lastDelivered?: BusMessage;
  /**
   * For replays: undefined while the subscriber can take more, else a promise that resolves
   * once it can. The broker stops replaying while it waits.
   */
  ready?(): Promise<void> | undefined;
  /** For replays: true once nobody reads any more (the replay stops early). */
  gone?(): boolean;
  /**
   * For replays from storage: takes the records `picks[from…to)` as they are stored (a door
   * copies them into its frames), while it has room — at least one; returns the index after the
   * last one taken. Without it each record is delivered as a message.
   */
  deliverStored?(records: StoredRecords, picks: Int32Array, from: number, to: number): number;
  /** Messages of `loss.namespace` may never have reached the hub (a bridge's source dropped). */
  lost?(loss: Loss): void;
}

/** Messages that may be missing in `namespace` after position `after` of `epoch`, and why. */
export interface Loss {
  namespace: string;
  epoch: string;
  after: number;
  code: ErrorCode;
}

/**
 * Told when a subscription pattern of a namespace gains its first subscriber or loses its last
 * one, so a door bridging an outside system can listen there only on demand.
 */
export interface InterestListener {
  /** A promise holds the new subscriber's answer until it settles (e.g. until LISTEN ran). */
  gained(pattern: string): Promise<void> | void;
  lost(pattern: string): void;
}

export interface PublishInput extends StoreOptions {
  channel: string;
  /** A request: fail with `no_responders` when nobody subscribes to the channel. */
  request?: boolean;
  /** A request's requester stops waiting at this time (ms): no reply is accepted after it. */
  replyBy?: number;
  payload: Uint8Array;
  binary?: boolean;
  headers?: Record<string, string>;
  /** Answer only after this many consumer acks of the message (publish confirmation). */
  confirm?: number;
  /**
   * A restored message's own id and time (ms), kept instead of new ones. The time may not be
   * before the namespace's newest message nor in the future: times never go backwards within
   * a namespace, which is what lets a start time or id be found through the time index.
   */
  id?: string;
  time?: number;
  /** How long to wait for the confirmations, ms (default 5000). */
  confirmTimeoutMs?: number;
}

/** A publish's outcome; `duplicate` when its key was seen within the dedupe window. */
export type Published = BusMessage & { duplicate?: boolean };

export interface BrokerOptions {
  history: HistoryLimits;
  /** Durable streams; without it namespaces live in memory only. */
  storage?: StreamEngine;
  /** Namespaces kept in memory even with storage (e.g. reply inboxes). */
  ephemeral?: (name: string) => boolean;
  /** How long a dedupe key is remembered, ms (default 2 minutes). */
  dedupeWindowMs?: number;
  /** Dedupe keys remembered per namespace; past it the oldest go (default: no limit). */
  dedupeMaxKeys?: number;
  /** Keep (replay) at most this many newest messages per channel; 0 = no limit. */
  maxPerChannel?: number;
  /** Appends that storage refused (a full disk, a failed fsync), for the metrics. */
  onStorageFailure?: (namespace: string, messages: number) => void;
  /**
   * The other nodes sharing `storage` (a cluster): they answer requests too, get the replies
   * published here, and count this node's consumer acks toward their confirmations.
   */
  peers?: Peers;
  now?: () => number;
}

type Start = { resume?: Record<string, Position>; from?: StartFrom };

/** Where one namespace's replay for a subscription begins, or why it cannot. */
interface ReplayPlan {
  ns: Namespace;
  /** First sequence to replay; undefined = nothing to replay. */
  fromSeq?: number;
  last?: boolean;
  /** False when part of the gap cannot be replayed (set during a replay, too). */
  recovered: boolean;
}

/** How far one namespace's replay for a subscription has come. */
interface ReplayCursor {
  plan: ReplayPlan;
  reader: StreamReader;
  /** Next sequence to replay. */
  next: number;
  /** Counts `n` replayed messages. */
  count(n: number): void;
}

/**
 * The core pub/sub engine: numbers messages per namespace, stores them (when a storage provider
 * is given) before fanning them out through the subject trie, keeps each namespace's recent
 * history in memory, and replays from memory or storage for resume. Runtime-neutral: no I/O
 * here, only the StreamEngine interface.
 */
export class Broker {
  /** Client subscriptions: what fan-out reaches and what answers a request. */
  readonly #trie = new SubjectTrie<Subscriber>();
  /** The server's own watchers (durable consumers): fed by fan-out, never a request's responder. */
  readonly #watchers = new SubjectTrie<Subscriber>();
  readonly #namespaces = new Map<string, Namespace>();
  /** Namespace → the door told about its patterns' subscribers; pattern → their count. */
  readonly #interest = new Map<string, InterestListener>();
  readonly #interested = new Map<string, number>();
  /** With peers: every client subscription pattern → its count, what the other nodes learn. */
  readonly #shared = new Map<string, number>();
  readonly #opening = new Map<string, Promise<Namespace>>();
  readonly #ids = new IdGenerator();
  readonly #confirmations = new Confirmations();
  readonly #options: BrokerOptions;
  #lastTime = 0;

  constructor(options: BrokerOptions) {
    this.#options = options;
  }

  /** Opens every stored namespace and warms its in-memory history from the log tail. */
  async load(): Promise<void> {
    for (const name of await this.#options.storage?.list() ?? []) await this.createNamespace(name);
  }

  namespace(name: string): Namespace | undefined {
    return this.#namespaces.get(name);
  }

  namespaces(): IterableIterator<Namespace> {
    return this.#namespaces.values();
  }

  /** Creates (or opens, when stored) the namespace; returns it either way. */
  createNamespace(name: string): Promise<Namespace> {
    const existing = this.#namespaces.get(name);
    if (existing) return Promise.resolve(existing);
    let opening = this.#opening.get(name);
    if (!opening) {
      opening = this.#open(name).finally(() => this.#opening.delete(name));
      this.#opening.set(name, opening);
    }
    return opening;
  }

  async #open(name: string): Promise<Namespace> {
    parsePattern(name);
    const { storage, ephemeral } = this.#options;
    const perChannel = this.#options.maxPerChannel ?? 0;
    // The stream's messages reach the hub here, in sequence order (a shared engine's from other
    // nodes too); nothing is appended before the namespace is open.
    const listener: StreamListener = {
      durable: (messages) => {
        const ns = this.#namespaces.get(name);
        if (ns) this.#durable(ns, messages);
      },
      failed: (ids, error) => {
        this.#options.onStorageFailure?.(name, ids.length);
        const ns = this.#namespaces.get(name);
        if (ns) ns.fail(ids, error);
      },
      duplicate: (message) => {
        const ns = this.#namespaces.get(name);
        if (ns) ns.settleDuplicate(message);
      },
      reset: () => this.#namespaces.get(name)?.reset(),
      purged: (channel, throughSeq) => this.#namespaces.get(name)?.purged(channel, throughSeq),
    };
    const durable = storage && !ephemeral?.(name) ? await storage.open(name, listener) : undefined;
    const ns = new Namespace(name, this.#options.history, durable ?? new MemoryStream(listener), {
      stored: durable !== undefined,
      perChannel,
    });
    if (durable) {
      await ns.restore({
        tail: this.#options.history.maxMessages,
        keysSince: this.#now() - this.#dedupeWindow,
        keyLifetimeMs: this.#dedupeWindow,
      });
    }
    this.#namespaces.set(name, ns);
    durable?.follow?.();
    return ns;
  }

  get #dedupeWindow(): number {
    return this.#options.dedupeWindowMs ?? 120_000;
  }

  #now(): number {
    // Times never go backwards within the process, so time-based starts can binary-search.
    this.#lastTime = Math.max(this.#lastTime, (this.#options.now ?? Date.now)());
    return this.#lastTime;
  }

  /**
   * Appends one message to its namespace's stream, which numbers and stores it; resolves once it
   * is durable and delivered into subscriber queues (see `publishBatch`).
   */
  publish(input: PublishInput): Promise<Published> {
    const { promise, resolve, reject } = Promise.withResolvers<Published>();
    this.publishBatch([input], [undefined], {
      published: (_, m) => resolve(m),
      failed: (_, e) => reject(e),
    });
    return promise;
  }

  /**
   * Publishes a batch (the frames of one read): each input is checked and stamped in order,
   * consecutive ones of a namespace go to its stream in one append, and `outcome` hears of each
   * (by its tag), in order, once it is durable and delivered, or failed. Fan-out follows the
   * stream's durable watermark, so it happens in sequence order; a memory-only namespace
   * delivers, and answers, within this call.
   */
  publishBatch<T>(
    inputs: readonly PublishInput[],
    tags: readonly T[],
    outcome: PublishOutcome<T>,
  ): void {
    let ns: Namespace | undefined;
    let run: AppendRequest[] = [];
    let waiting: Publishing[] = [];
    const flush = () => {
      if (run.length) ns!.append(run, waiting);
      run = [];
      waiting = [];
    };
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i];
      try {
        const target = this.#target(input);
        if (target !== ns) {
          flush();
          ns = target;
        }
        const staged = this.#stage(target, input, tags[i], outcome as PublishOutcome<unknown>);
        if (staged) {
          run.push({ message: staged.message, key: input.key });
          waiting.push(staged);
        }
      } catch (e) {
        // Answered in order: what came before goes first.
        flush();
        outcome.failed(tags[i], e, input.channel);
      }
    }
    flush();
  }

  /** The namespace `input` goes to, or the refusal of it. */
  #target(input: PublishInput): Namespace {
    parseChannel(input.channel);
    const name = namespaceOf(input.channel);
    const ns = this.#namespaces.get(name);
    if (!ns) throw new CatbusError(ErrorCode.NotFound, `namespace "${name}" does not exist`);
    // A request that nobody can answer fails at once, instead of making the requester wait
    // for its timeout.
    if (
      input.request && this.#trie.match(input.channel).length === 0 &&
      !this.#options.peers?.responds(input.channel)
    ) {
      throw new CatbusError(
        ErrorCode.NoResponders,
        `no subscriber on "${input.channel}" to answer this request`,
      );
    }
    return ns;
  }

  /**
   * The message of `input`, waiting to be appended; undefined when its key was used within the
   * dedupe window (the first message answers it).
   */
  #stage(
    ns: Namespace,
    input: PublishInput,
    tag: unknown,
    outcome: PublishOutcome<unknown>,
  ): Publishing | undefined {
    const now = this.#now();
    const time = input.time ?? now;
    if (!ns.advanceTime(time, now)) {
      throw new CatbusError(
        ErrorCode.Conflict,
        `time ${new Date(time).toISOString()} is ${time > now ? "in the future" : "before"} ` +
          `the newest message of "${ns.name}" (times never go backwards in a namespace); ` +
          "restore into an empty namespace, or leave the time out",
      );
    }
    const key = input.key;
    if (key !== undefined) {
      const seen = ns.duplicateOf(key, now);
      if (seen) {
        seen.then(
          (m) => outcome.published(tag, { ...m, duplicate: true }),
          (e) => outcome.failed(tag, e, input.channel),
        );
        return undefined;
      }
    }
    // The engine gives the message its position (epoch and seq) when it appends it.
    const message: BusMessage = {
      channel: input.channel,
      seq: 0,
      epoch: ns.epoch,
      id: input.id ?? this.#ids.next(now),
      time,
      payload: input.payload,
      binary: input.binary ?? false,
    };
    if (input.headers) message.headers = input.headers;
    if (input.expiresAt) message.expiresAt = input.expiresAt;
    if (input.replyBy) message.replyBy = input.replyBy;
    const confirm = input.confirm
      ? { count: input.confirm, timeoutMs: input.confirmTimeoutMs ?? 5000, since: now }
      : undefined;
    if (key !== undefined) outcome = this.#remembered(ns, key, now, outcome);
    return { message, tag, outcome, confirm };
  }

  /**
   * Remembers `key` for the dedupe window: a repeat is answered with this publish's message
   * (and the key is forgotten if the publish fails). Returns the outcome to tell.
   */
  #remembered(
    ns: Namespace,
    key: string,
    now: number,
    outcome: PublishOutcome<unknown>,
  ): PublishOutcome<unknown> {
    const { promise, resolve, reject } = Promise.withResolvers<BusMessage>();
    ns.rememberKey(key, promise, now + this.#dedupeWindow, this.#options.dedupeMaxKeys);
    return {
      published: (tag, m) => {
        resolve(m);
        outcome.published(tag, m);
      },
      failed: (tag, e, channel) => {
        reject(e);
        outcome.failed(tag, e, channel);
      },
    };
  }

  /** The stream's messages are durable: fan them out in order, then answer their publishes. */
  #durable(ns: Namespace, messages: BusMessage[]): void {
    for (const m of messages) {
      const publishing = ns.settle(m);
      // Registered before the message can reach a consumer, so no ack is missed; the timeout
      // counts from the publish.
      const confirm = publishing?.confirm;
      const confirmation = confirm
        ? this.#confirm(ns.name, m, confirm.count, confirm.timeoutMs, confirm.since)
        : undefined;
      this.#fanOut(ns, m);
      // A reply lives in this node's memory only: a requester on another node gets it from there.
      if (!ns.stored && this.#options.peers && isReplySubject(m.channel)) {
        this.#options.peers.forward(m);
      }
      if (!publishing) continue;
      const { outcome, tag } = publishing;
      if (!confirmation) outcome.published(tag, m);
      else {
        confirmation.then(
          () => outcome.published(tag, m),
          (e) => outcome.failed(tag, e, m.channel),
        );
      }
    }
  }

  /** Waits for `count` acks of `m`, from this node's consumers or (told by peers) others'. */
  #confirm(
    namespace: string,
    m: BusMessage,
    count: number,
    timeoutMs: number,
    since: number,
  ): Promise<void> {
    const left = Math.max(0, since + timeoutMs - this.#now());
    const waiting = this.#confirmations.wait(namespace, m.seq, count, timeoutMs, m.channel, left);
    const peers = this.#options.peers;
    if (!peers) return waiting;
    peers.confirming(namespace, true);
    const done = () => peers.confirming(namespace, false);
    waiting.then(done, done);
    return waiting;
  }

  /** True when `key` was used in `namespace` within the dedupe window (checked before a batch). */
  seenKey(namespace: string, key: string): boolean {
    const ns = this.#namespaces.get(namespace);
    if (!ns) return false;
    return ns.duplicateOf(key, this.#now()) !== undefined;
  }

  /** A durable consumer acked `namespace` #`seq` (counts toward publish confirmations). */
  acked(namespace: string, seq: number): void {
    this.#confirmations.acked(namespace, seq);
    this.#options.peers?.acked(namespace, seq);
  }

  /** A durable consumer on another node acked `namespace` #`seq` (told through the peers). */
  peerAcked(namespace: string, seq: number): void {
    this.#confirmations.acked(namespace, seq, true);
  }

  /**
   * The namespace's unexpired messages from `fromSeq` on (within the per-channel limit), oldest
   * first, from memory or storage, in chunks.
   */
  read(ns: Namespace, fromSeq: number): AsyncGenerator<BusMessage[]> {
    return this.#reader(ns).batches(fromSeq);
  }

  /**
   * Removes `channel`'s messages through `throughSeq` (default: every one delivered) from the
   * hub's memory and from storage; resolves with the sequence purged through once storage has
   * them no more. An unknown namespace has nothing to purge (0).
   */
  async purgeChannel(channel: string, throughSeq?: number): Promise<number> {
    parseChannel(channel);
    const ns = this.#namespaces.get(namespaceOf(channel));
    if (!ns) return 0;
    const through = Math.min(throughSeq ?? ns.lastSeq, ns.lastSeq);
    await ns.purgeChannel(channel, through);
    return through;
  }

  /**
   * Keeps each channel of `namespace` (which must be open) to about its newest `max` messages
   * (see ChannelCap): counts what is stored, in the background, then every message as it comes;
   * `failed` hears of a trim storage refused (the next trim of that channel covers it again).
   */
  capChannels(
    namespace: string,
    max: number,
    failed: (channel: string, error: unknown) => void,
  ): Promise<void> {
    const ns = this.#namespaces.get(namespace);
    if (!ns) throw new CatbusError(ErrorCode.NotFound, `namespace "${namespace}" is not open`);
    const cap = new ChannelCap(max, (channel, seq) => {
      ns.purgeChannel(channel, seq).catch((e) => failed(channel, e));
    });
    ns.useCap(cap);
    return cap.countStored(this.#reader(ns, { all: true }).batches(ns.firstSeq));
  }

  /** The first sequence a reader of `pattern` starting at `from` should look at. */
  async startSeq(ns: Namespace, pattern: string, from: StartFrom): Promise<number> {
    if (from === "last") {
      return this.#reader(ns, { channel: matcherFor(pattern) }).newest()?.seq ??
        ns.lastSeq + 1;
    }
    const plan = await this.#startPlan(ns, from, literalNamespaceOf(pattern) !== undefined);
    return plan.fromSeq ?? ns.lastSeq + 1;
  }

  #reader(ns: Namespace, filter?: ReadFilter): StreamReader {
    return new StreamReader(ns, filter);
  }

  #fanOut(ns: Namespace, message: BusMessage): void {
    ns.delivered(message);
    for (const sub of this.#trie.match(message.channel)) {
      if (sub.lastDelivered === message) continue;
      sub.lastDelivered = message;
      sub.deliver(message);
    }
    if (this.#watchers.size) {
      for (const watcher of this.#watchers.match(message.channel)) watcher.deliver(message);
    }
    forgetEncodings();
  }

  /**
   * Registers `sub` for `pattern` after replaying to `replayTo` what `resume`/`from` ask for.
   * The replay is paced by `replayTo.ready` (from memory as from storage), and its last step —
   * what is left, then the registration — happens synchronously, so nothing falls between.
   */
  async subscribe(
    sub: Subscriber,
    pattern: string,
    start: Start = {},
    replayTo: Subscriber = sub,
  ): Promise<SubscribedMeta> {
    parsePattern(pattern);
    const plans = await this.#plan(pattern, start);
    const replayed = new Map<Namespace, number>();
    const channel = matcherFor(pattern);
    const cursors: ReplayCursor[] = [];
    for (const plan of plans) {
      const reader = this.#reader(plan.ns, { channel });
      const count = (n: number) => replayed.set(plan.ns, (replayed.get(plan.ns) ?? 0) + n);
      if (plan.fromSeq !== undefined || plan.last) {
        cursors.push({ plan, reader, next: plan.fromSeq ?? Infinity, count });
      }
    }
    // Catch up until one pass over every namespace needs no wait: live messages published
    // during a wait are replayed too, and the pass that needs none ends with registration.
    for (;;) {
      let wait: Promise<void> | undefined;
      for (const cursor of cursors) if ((wait = this.#advance(cursor, replayTo))) break;
      if (!wait) break;
      await wait;
      if (replayTo.gone?.()) break;
    }
    for (const cursor of cursors) {
      const last = cursor.plan.last && cursor.reader.newest();
      if (last) {
        replayTo.deliver(last);
        cursor.count(1);
      }
    }
    const interest = this.#trie.insert(pattern, sub) ? this.#countInterest(pattern, 1) : undefined;
    const result: SubscribedMeta = { pattern, recovered: true, namespaces: {} };
    for (const plan of plans) {
      result.namespaces[plan.ns.name] = {
        ...plan.ns.position,
        recovered: plan.recovered,
        replayed: replayed.get(plan.ns) ?? 0,
      };
      if (!plan.recovered) result.recovered = false;
    }
    for (const [name, position] of Object.entries(start.resume ?? {})) {
      if (this.#patternReaches(pattern, name) && !this.#namespaces.has(name)) {
        result.namespaces[name] = { ...position, recovered: false, replayed: 0 };
        result.recovered = false;
      }
    }
    await interest;
    return result;
  }

  /**
   * Replays `cursor` from memory up to the namespace's last message, synchronously; returns a
   * promise instead when the subscriber must be waited for, or the log must be read.
   */
  #advance(cursor: ReplayCursor, replayTo: Subscriber): Promise<void> | undefined {
    const { plan, reader } = cursor;
    const ns = plan.ns;
    while (cursor.next <= ns.lastSeq && !replayTo.gone?.()) {
      if (!reader.inMemory(cursor.next)) {
        if (ns.stored) return this.#replayStored(cursor, replayTo);
        // Memory-only, and evicted while the subscriber was waited for: say so, go on after it.
        plan.recovered = false;
        cursor.next = ns.firstInMemory;
        continue;
      }
      const chunk = reader.fromMemory(cursor.next);
      for (const m of chunk.messages) {
        replayTo.deliver(m);
        cursor.count(1);
        cursor.next = m.seq + 1;
        const wait = replayTo.ready?.();
        if (wait) return wait;
      }
      cursor.next = chunk.next;
    }
    return undefined;
  }

  /**
   * Replays one chunk of the log (the file is closed before the subscriber is waited for): runs
   * of its records go to the subscriber as stored, and the replay waits only when it is full.
   */
  async #replayStored(cursor: ReplayCursor, replayTo: Subscriber): Promise<void> {
    const chunk = await cursor.reader.storedChunk(cursor.next);
    const { records, picks } = chunk;
    let k = 0;
    while (k < picks.length) {
      // Memory holds the rest (the replay reached the history): go on from there.
      const end = this.#storedUntilMemory(cursor.reader, chunk, k);
      if (end === k) {
        cursor.next = records.seq(picks[k]);
        return;
      }
      let taken = k + 1;
      if (replayTo.deliverStored) taken = replayTo.deliverStored(records, picks, k, end);
      else replayTo.deliver(records.message(picks[k]));
      cursor.count(taken - k);
      cursor.next = records.seq(picks[taken - 1]) + 1;
      k = taken;
      const wait = replayTo.ready?.();
      if (wait) await wait;
      if (replayTo.gone?.()) return;
    }
    cursor.next = chunk.next;
  }

  /** The first pick from `k` on that memory holds (picks.length: none); it holds every later one. */
  #storedUntilMemory(reader: StreamReader, { records, picks }: StoredChunk, k: number): number {
    if (!reader.inMemory(records.seq(picks[picks.length - 1]))) return picks.length;
    while (k < picks.length && !reader.inMemory(records.seq(picks[k]))) k++;
    return k;
  }

  /** Returns false when `sub` had no such subscription. */
  unsubscribe(sub: Subscriber, pattern: string): boolean {
    const removed = this.#trie.remove(pattern, sub);
    if (removed) this.#countInterest(pattern, -1);
    return removed;
  }

  /** Tells `listener` whenever a pattern of `namespace` gains its first or loses its last subscriber. */
  watchInterest(namespace: string, listener: InterestListener): void {
    this.#interest.set(namespace, listener);
  }

  unwatchInterest(namespace: string): void {
    this.#interest.delete(namespace);
    for (const pattern of [...this.#interested.keys()]) {
      if (literalNamespaceOf(pattern) === namespace) this.#interested.delete(pattern);
    }
  }

  #countInterest(pattern: string, delta: 1 | -1): Promise<unknown> | void {
    const told = this.#options.peers && this.#tellPeers(pattern, delta);
    const heard = this.#tellDoor(pattern, delta);
    return told && heard ? Promise.all([told, heard]) : told || heard;
  }

  /** The other nodes learn of a pattern's first subscriber here, and of its last one leaving. */
  #tellPeers(pattern: string, delta: 1 | -1): Promise<void> | void {
    const count = (this.#shared.get(pattern) ?? 0) + delta;
    if (count > 0) this.#shared.set(pattern, count);
    else this.#shared.delete(pattern);
    if (count === 0) return this.#options.peers!.interest(pattern, false);
    if (delta === 1 && count === 1) return this.#options.peers!.interest(pattern, true);
  }

  #tellDoor(pattern: string, delta: 1 | -1): Promise<void> | void {
    const ns = literalNamespaceOf(pattern);
    const listener = ns === undefined ? undefined : this.#interest.get(ns);
    if (!listener) return;
    const count = (this.#interested.get(pattern) ?? 0) + delta;
    if (count > 0) this.#interested.set(pattern, count);
    else this.#interested.delete(pattern);
    if (count === 0) listener.lost(pattern);
    else if (delta === 1 && count === 1) return listener.gained(pattern);
  }

  /**
   * Tells every subscriber of any of `channels` (once each) that messages of their namespace
   * may be missing from its current end on: the source that feeds them lost some.
   */
  reportLoss(namespace: string, channels: readonly string[], code: ErrorCode): void {
    const ns = this.#namespaces.get(namespace);
    if (!ns) return;
    const loss: Loss = { namespace, epoch: ns.epoch, after: ns.lastSeq, code };
    const told = new Set<Subscriber>();
    for (const channel of channels) {
      for (const sub of this.#trie.match(channel)) {
        if (told.has(sub)) continue;
        told.add(sub);
        sub.lost?.(loss);
      }
    }
  }

  /**
   * Feeds `watcher` every new message on `pattern` (no replay) without making it a subscriber:
   * the server's own readers, such as durable consumers, answer no request.
   */
  watch(pattern: string, watcher: Subscriber): void {
    parsePattern(pattern);
    this.#watchers.insert(pattern, watcher);
  }

  unwatch(pattern: string, watcher: Subscriber): void {
    this.#watchers.remove(pattern, watcher);
  }

  async #plan(pattern: string, start: Start): Promise<ReplayPlan[]> {
    const plans: ReplayPlan[] = [];
    const single = literalNamespaceOf(pattern) !== undefined;
    for (const ns of this.#namespacesOf(pattern)) {
      const position = start.resume?.[ns.name];
      if (position) plans.push(this.#resumePlan(ns, position));
      else plans.push(await this.#startPlan(ns, start.from ?? "new", single));
    }
    return plans;
  }

  /** Resume after `position`, or say recovered:false (never replay part of a gap). */
  #resumePlan(ns: Namespace, position: Position): ReplayPlan {
    const fail = { ns, recovered: false };
    if (ns.epoch !== position.epoch || position.seq > ns.lastSeq) return fail;
    if (position.seq === ns.lastSeq) return { ns, recovered: true };
    if (position.seq + 1 < ns.firstSeq) return fail;
    return { ns, fromSeq: position.seq + 1, recovered: true };
  }

  /**
   * `single`: the pattern reaches only `ns`, so a start id that is not there is not found
   * (never a replay of everything after the id's time); other namespaces a wildcard pattern
   * reaches start after that time.
   */
  async #startPlan(ns: Namespace, from: StartFrom, single: boolean): Promise<ReplayPlan> {
    const first = ns.firstSeq;
    if (from === "new") return { ns, recovered: true };
    if (from === "last") return { ns, last: true, recovered: true };
    if (from === "first") return { ns, fromSeq: first, recovered: true };
    if ("seq" in from) return { ns, fromSeq: Math.max(from.seq, first), recovered: true };
    if ("id" in from) {
      const found = await this.findMessage(ns, from.id);
      if (found) return { ns, fromSeq: found.seq + 1, recovered: true };
      if (single) {
        throw new CatbusError(
          ErrorCode.NotFound,
          `message ${from.id} not found in namespace "${ns.name}"`,
        );
      }
      return this.#startPlan(ns, { time: timeOfId(from.id) + 1 }, single);
    }
    return { ns, fromSeq: Math.max(await ns.seekTime(from.time), first), recovered: true };
  }

  /**
   * The message with this id in `ns`, if it is still there: ids begin with their publish time,
   * so it is found through the time index, reading only that millisecond's messages.
   */
  async findMessage(ns: Namespace, id: string): Promise<BusMessage | undefined> {
    const time = timeOfId(id);
    const reader = this.#reader(ns, { all: true });
    for await (const batch of reader.batches(await ns.seekTime(time))) {
      for (const m of batch) {
        if (m.id === id) return m;
        if (m.time > time) return undefined;
      }
    }
    return undefined;
  }

  #patternReaches(pattern: string, namespace: string): boolean {
    const literal = literalNamespaceOf(pattern);
    if (literal !== undefined) return literal === namespace;
    return !namespace.startsWith("$");
  }

  #namespacesOf(pattern: string): Namespace[] {
    const literal = literalNamespaceOf(pattern);
    if (literal !== undefined) {
      const ns = this.#namespaces.get(literal);
      return ns ? [ns] : [];
    }
    return [...this.#namespaces.values()].filter((ns) => !ns.name.startsWith("$"));
  }
}
