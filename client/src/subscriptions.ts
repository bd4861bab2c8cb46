import { SubjectTrie } from "../shared/subject-trie.ts";
import { namespaceOf } from "../shared/subject.ts";
import type { CatbusError } from "../shared/errors.ts";
import type {
  NoticeMeta,
  Position,
  StartFrom,
  SubscribedMeta,
  SubscribeMeta,
} from "../shared/messages.ts";

/** A client joined or left a channel's presence. */
export type PresenceEvent = Extract<NoticeMeta, { event: "join" | "leave" }>;

/** What a message handler receives besides the channel and payload. */
export interface MessageMeta {
  channel: string;
  seq: number;
  epoch: string;
  id: string;
  time: number;
  headers?: Record<string, string>;
}

/** A subscription callback; if it returns a promise, a rejection is reported via `onError`. */
export type MessageHandler<T = unknown> = (
  channel: string,
  payload: T,
  meta: MessageMeta,
) => unknown;

/** The outcome of a (re)subscribe that resumed from earlier positions. */
export interface RecoveryInfo {
  pattern: string;
  /** False when some messages could not be replayed: reload state from the source of truth. */
  recovered: boolean;
  namespaces: SubscribedMeta["namespaces"];
}

export interface SubscribeOptions {
  /** Where to start in namespaces this subscription has no position for (default "new"). */
  from?: StartFrom;
  /** Called after each reconnect or gap, with whether every missed message was replayed. */
  onRecovery?: (info: RecoveryInfo) => void;
  /** Called when the server ends the subscription (e.g. its grant was revoked). */
  onError?: (error: CatbusError) => void;
  /** Ends the subscription when aborted. */
  signal?: AbortSignal;
  /**
   * Be present on the channel while subscribed (a literal channel): others see this client
   * (its id and its token's `info`) in `presence()` and hear it join and leave.
   */
  presence?: boolean;
  /** Called when a client joins or leaves the channel's presence (a literal channel). */
  onPresence?: (event: PresenceEvent) => void;
}

/** One `subscribe()` call: its handler and the last position it saw per namespace. */
export class LocalSubscription {
  readonly pattern: string;
  readonly handler: MessageHandler;
  readonly options: SubscribeOptions;
  readonly positions = new Map<string, Position>();

  constructor(
    pattern: string,
    handler: MessageHandler,
    options: SubscribeOptions,
  ) {
    this.pattern = pattern;
    this.handler = handler;
    this.options = options;
  }

  /** True when the message is new to this subscription (drops replays it already saw). */
  accept(ns: string, epoch: string, seq: number): boolean {
    const last = this.positions.get(ns);
    if (last && last.epoch === epoch && seq <= last.seq) return false;
    this.positions.set(ns, { epoch, seq });
    return true;
  }

  /**
   * Adopts the server's positions from a subscribe answer: where this subscription has none yet
   * (so a later resume starts from the moment it subscribed), and where the gap was not
   * recovered (the lost messages are behind us; resume from now on).
   */
  seed(namespaces: SubscribedMeta["namespaces"]): void {
    for (const [ns, p] of Object.entries(namespaces)) {
      if (!p.recovered || !this.positions.has(ns)) {
        this.positions.set(ns, { epoch: p.epoch, seq: p.seq });
      }
    }
  }
}

/**
 * The client's local subscriptions. The server sends each message once per connection, so the
 * client routes it to every matching local subscription with the same trie the server uses.
 */
export class SubscriptionRegistry {
  readonly #trie = new SubjectTrie<LocalSubscription>();
  readonly #byPattern = new Map<string, Set<LocalSubscription>>();

  add(sub: LocalSubscription): void {
    let set = this.#byPattern.get(sub.pattern);
    if (!set) this.#byPattern.set(sub.pattern, set = new Set());
    set.add(sub);
    this.#trie.insert(sub.pattern, sub);
  }

  /** Removes it; returns true when it was the last one of its pattern. */
  remove(sub: LocalSubscription): boolean {
    const set = this.#byPattern.get(sub.pattern);
    if (!set?.delete(sub)) return false;
    this.#trie.remove(sub.pattern, sub);
    if (set.size > 0) return false;
    this.#byPattern.delete(sub.pattern);
    return true;
  }

  patterns(): string[] {
    return [...this.#byPattern.keys()];
  }

  of(pattern: string): LocalSubscription[] {
    return [...this.#byPattern.get(pattern) ?? []];
  }

  /** The earliest position per namespace among the pattern's subscriptions: where to resume. */
  resumeFor(pattern: string): Record<string, Position> {
    const out: Record<string, Position> = {};
    for (const sub of this.#byPattern.get(pattern) ?? []) {
      for (const [ns, p] of sub.positions) {
        const cur = out[ns];
        if (!cur || (cur.epoch === p.epoch && p.seq < cur.seq)) {
          out[ns] = { ...p };
        }
      }
    }
    return out;
  }

  /** What the pattern's subscriptions ask of presence, for the subscribe frame. */
  presenceOf(pattern: string): Pick<SubscribeMeta, "presence" | "joinLeave"> {
    const subs = this.of(pattern);
    return {
      ...(subs.some((s) => s.options.presence) ? { presence: true } : {}),
      ...(subs.some((s) => s.options.onPresence) ? { joinLeave: true } : {}),
    };
  }

  /** Tells the channel's subscriptions that asked for joins and leaves. */
  presence(event: PresenceEvent): void {
    for (const sub of this.of(event.channel)) sub.options.onPresence?.(event);
  }

  /** Patterns whose channels can fall in `ns`. */
  patternsReaching(ns: string): string[] {
    return this.patterns().filter((p) => {
      const first = namespaceOf(p);
      return first === ns ||
        ((first === "*" || first === ">") && !ns.startsWith("$"));
    });
  }

  dispatch(
    meta: MessageMeta,
    payload: unknown,
    onHandlerError: (e: unknown) => void,
  ): void {
    const ns = namespaceOf(meta.channel);
    for (const sub of this.#trie.match(meta.channel)) {
      if (!sub.accept(ns, meta.epoch, meta.seq)) continue;
      try {
        // A handler may be async: its rejection is reported, never left unhandled.
        const result: unknown = sub.handler(meta.channel, payload, meta);
        if (result instanceof Promise) result.catch(onHandlerError);
      } catch (e) {
        onHandlerError(e);
      }
    }
  }
}
