import { CatbusError, ErrorCode } from "./errors.ts";
import { History, type HistoryLimits } from "./history.ts";
import { IdGenerator, randomId } from "./ids.ts";
import type { BusMessage } from "./message.ts";
import { literalNamespaceOf, matches, namespaceOf, parseChannel, parsePattern } from "./subject.ts";
import { SubjectTrie } from "./subject-trie.ts";
import type {
  NamespaceRecovery,
  Position,
  StartFrom,
  SubscribedMeta,
} from "../protocol/messages.ts";

/**
 * Something that receives messages: a connection's session. `deliver` must not block or throw;
 * it queues (or drops, under the slow-consumer policy) and returns.
 */
export interface Subscriber {
  deliver(message: BusMessage): void;
  /** Set by the broker: the last message handed over, so overlapping patterns deliver once. */
  lastDelivered?: BusMessage;
}

/** One namespace: its stream position and the in-memory tail used for resume. */
export class Namespace {
  readonly name: string;
  readonly epoch: string;
  lastSeq = 0;
  readonly history: History;

  constructor(name: string, limits: HistoryLimits, epoch = randomId(8)) {
    this.name = name;
    this.epoch = epoch;
    this.history = new History(limits);
  }

  get position(): Position {
    return { epoch: this.epoch, seq: this.lastSeq };
  }
}

export interface PublishInput {
  channel: string;
  payload: Uint8Array;
  binary?: boolean;
  headers?: Record<string, string>;
}

export interface BrokerOptions {
  history: HistoryLimits;
  /** Called when a namespace comes into existence, e.g. to persist its name. */
  onNamespaceCreated?: (name: string) => void;
  now?: () => number;
}

/**
 * The core pub/sub engine: routes published messages to subscribers through the subject trie,
 * numbers them per namespace and keeps each namespace's recent history for resume.
 * Runtime-neutral: no I/O here.
 */
export class Broker {
  readonly #trie = new SubjectTrie<Subscriber>();
  readonly #namespaces = new Map<string, Namespace>();
  readonly #ids = new IdGenerator();
  readonly #options: BrokerOptions;
  #lastTime = 0;

  constructor(options: BrokerOptions) {
    this.#options = options;
  }

  get subscriptionCount(): number {
    return this.#trie.size;
  }

  namespace(name: string): Namespace | undefined {
    return this.#namespaces.get(name);
  }

  namespaces(): IterableIterator<Namespace> {
    return this.#namespaces.values();
  }

  /** Creates the namespace if missing; returns it either way. */
  ensureNamespace(name: string): Namespace {
    let ns = this.#namespaces.get(name);
    if (!ns) {
      parsePattern(name);
      this.#namespaces.set(
        name,
        ns = new Namespace(name, this.#options.history),
      );
      this.#options.onNamespaceCreated?.(name);
    }
    return ns;
  }

  /**
   * Numbers, records and fans out one message. The caller has checked grants and that the
   * namespace exists (or may be created). Delivery is synchronous into subscriber queues.
   */
  publish(input: PublishInput): BusMessage {
    parseChannel(input.channel);
    const ns = this.#namespaces.get(namespaceOf(input.channel));
    if (!ns) {
      throw new CatbusError(
        ErrorCode.NotFound,
        `namespace "${namespaceOf(input.channel)}" does not exist`,
      );
    }
    // Times never go backwards within the process, so time-based starts can binary-search.
    const now = Math.max(this.#lastTime, (this.#options.now ?? Date.now)());
    this.#lastTime = now;
    const message: BusMessage = {
      channel: input.channel,
      seq: ++ns.lastSeq,
      epoch: ns.epoch,
      id: this.#ids.next(now),
      time: now,
      payload: input.payload,
      binary: input.binary ?? false,
    };
    if (input.headers) message.headers = input.headers;
    ns.history.append(message);
    for (const sub of this.#trie.match(input.channel)) {
      if (sub.lastDelivered === message) continue;
      sub.lastDelivered = message;
      sub.deliver(message);
    }
    return message;
  }

  /**
   * Registers `sub` for `pattern`, first replaying what `resume`/`from` ask for to `replayTo`.
   * Replay and registration happen in one synchronous step, so no message can fall between them.
   */
  subscribe(
    sub: Subscriber,
    pattern: string,
    start: { resume?: Record<string, Position>; from?: StartFrom } = {},
    replayTo: Subscriber = sub,
  ): SubscribedMeta {
    parsePattern(pattern);
    const result: SubscribedMeta = { pattern, recovered: true, namespaces: {} };
    const replay: BusMessage[] = [];
    const resumed = new Set<string>();
    for (const [name, position] of Object.entries(start.resume ?? {})) {
      if (!this.#patternReaches(pattern, name)) continue;
      resumed.add(name);
      const outcome = this.#resume(pattern, name, position, replay);
      result.namespaces[name] = outcome;
      if (!outcome.recovered) result.recovered = false;
    }
    // Every namespace the pattern reaches gets its current position in the answer, so the
    // client can resume from the moment it subscribed even before it sees a message.
    const from = start.from ?? "new";
    for (const ns of this.#namespacesOf(pattern)) {
      if (resumed.has(ns.name)) continue;
      const before = replay.length;
      if (from !== "new") this.#startFrom(pattern, ns, from, replay);
      result.namespaces[ns.name] = {
        ...ns.position,
        recovered: true,
        replayed: replay.length - before,
      };
    }
    for (const m of replay) replayTo.deliver(m);
    this.#trie.insert(pattern, sub);
    return result;
  }

  /** Returns false when `sub` had no such subscription. */
  unsubscribe(sub: Subscriber, pattern: string): boolean {
    return this.#trie.remove(pattern, sub);
  }

  #resume(
    pattern: string,
    name: string,
    position: Position,
    replay: BusMessage[],
  ): NamespaceRecovery {
    const ns = this.#namespaces.get(name);
    if (!ns) return { epoch: "", seq: 0, recovered: false, replayed: 0 };
    const fail = { ...ns.position, recovered: false, replayed: 0 };
    if (ns.epoch !== position.epoch || !Number.isSafeInteger(position.seq)) {
      return fail;
    }
    if (position.seq > ns.lastSeq) return fail; // a position from the future: not this stream
    const gap = ns.history.after(position.seq, ns.lastSeq);
    if (!gap) return fail;
    let replayed = 0;
    for (const m of gap) {
      if (matches(pattern, m.channel)) {
        replay.push(m);
        replayed++;
      }
    }
    return { ...ns.position, recovered: true, replayed };
  }

  #startFrom(
    pattern: string,
    ns: Namespace,
    from: StartFrom,
    replay: BusMessage[],
  ) {
    const keep = (list: Iterable<BusMessage>) => {
      for (const m of list) if (matches(pattern, m.channel)) replay.push(m);
    };
    if (from === "first") keep(ns.history.all());
    else if (from === "last") {
      for (const m of ns.history.newestFirst()) {
        if (matches(pattern, m.channel)) {
          replay.push(m);
          break;
        }
      }
    } else if (typeof from === "object" && "seq" in from) {
      keep(
        ns.history.after(Math.max(0, from.seq - 1), ns.lastSeq) ??
          ns.history.all(),
      );
    } else if (typeof from === "object" && "time" in from) {
      keep(ns.history.since(from.time));
    }
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
