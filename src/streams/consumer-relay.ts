import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { AckKind } from "../../client/shared/messages.ts";
import type { Logger } from "../core/logger.ts";
import type { BusMessage } from "../core/message.ts";
import type { Consumer, ConsumerMember, ConsumerRemote, Delivery } from "./consumer.ts";
import type { ConsumerPeers } from "./consumer-registry.ts";
import type { NodeChannels, RegistryListener } from "./node-channels.ts";
import { decodeStored, encodeAppended, toBusMessage } from "./record.ts";

/** What the relay needs of this node's consumers. */
export interface RelayedConsumers {
  get(name: string): Consumer | undefined;
}

/** Registry entry of a lease this node holds. */
const HOLDING = "l ";
/** Inbox bodies of the relay start with this byte, then a JSON line, then a record (deliveries). */
const CONSUMERS = 0x63; // c

/** The JSON line of a relay body. */
type Mail =
  /** A member node's members of consumer `c` (all of them: the holder joins and drops to match). */
  | { t: "members"; c: string; m: [id: string, maxInFlight: number][] }
  /** From the holder: a delivery to member `m`; the message's record follows the line. */
  | { t: "deliver"; c: string; m: string; a: number; seq: number; epoch: string; time: number }
  /** A member's settlement, answered by "settled" with the same `r`. */
  | { t: "settle"; r: number; c: string; s: number; k: AckKind; d?: number }
  | { t: "settled"; r: number; code?: ErrorCode; message?: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A member on another node, as the holder's consumer sees it: deliveries go to its node's inbox. */
class RemoteMember implements ConsumerMember {
  constructor(
    readonly node: string,
    readonly consumer: string,
    readonly id: string,
    readonly send: (node: string, mail: Mail, record?: Uint8Array) => void,
  ) {}

  // Its connection's pace is its own node's business: the holder bounds it by maxInFlight.
  hasRoom(): boolean {
    return true;
  }

  deliver({ message, attempt }: Delivery): void {
    this.send(this.node, {
      t: "deliver",
      c: this.consumer,
      m: this.id,
      a: attempt,
      seq: message.seq,
      epoch: message.epoch,
      time: message.time,
    }, encodeAppended(message, undefined));
  }
}

interface LocalMember {
  member: ConsumerMember;
  maxInFlight: number;
}

interface Settling {
  resolve(): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Durable consumers' members served across nodes, on the engine's node channels. The node that
 * holds a consumer's lease lists it in the registry ("l NAME"); a node with members of a
 * consumer held elsewhere sends the holder its member list (on every change, and again every
 * `intervalMs`, since the inbox may drop mail). The holder joins each as a RemoteMember of its
 * consumer — round robin and maxInFlight as for its own — and sends their deliveries to their
 * node, which hands them to the member's connection; their acks, naks and terms go back to the
 * holder and are answered from there. A member that leaves, a list without it, or its node gone
 * from the registry (it died: its TTL ran out) takes it off the holder, whose unacked deliveries
 * go to the other members then (at least once). Mail is at most once: a lost delivery is
 * redelivered after the ack wait, a lost settlement times out and the client retries.
 */
export class ConsumerRelay implements ConsumerPeers, RegistryListener {
  readonly #channels: NodeChannels;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  #consumers?: RelayedConsumers;
  /** Consumer → the node that holds its lease (from the other nodes' entries). */
  readonly #holders = new Map<string, string>();
  /** The leases this node holds. */
  readonly #held = new Set<string>();
  /** Consumer → its members on this node by id (sent to the holder while it is elsewhere). */
  readonly #local = new Map<string, Map<string, LocalMember>>();
  readonly #idOf = new Map<ConsumerMember, string>();
  #nextId = 0;
  /** Consumer → the node its members here were last listed with. */
  readonly #listedAt = new Map<string, string>();
  /** As holder: "node consumer id" → the other nodes' members of the consumers held here. */
  readonly #remote = new Map<string, RemoteMember>();
  readonly #settling = new Map<number, Settling>();
  #nextRequest = 0;
  readonly #timer: ReturnType<typeof setInterval>;

  /**
   * `intervalMs`: how often member lists are sent again; `timeoutMs`: how long a settlement
   * waits for the holder's answer.
   */
  constructor(
    channels: NodeChannels,
    log: Logger,
    options: { intervalMs: number; timeoutMs: number },
  ) {
    this.#channels = channels;
    this.#log = log;
    this.#timeoutMs = options.timeoutMs;
    this.#timer = setInterval(() => {
      for (const name of this.#local.keys()) this.#list(name);
    }, options.intervalMs);
  }

  /** Starts relaying for `consumers` (made with this relay as their peers). */
  start(consumers: RelayedConsumers): void {
    this.#consumers = consumers;
    this.#channels.onMail((from, body) => this.#mail(from, body));
    this.#channels.watch(this);
  }

  // ConsumerPeers: what the consumer registry tells.

  holding(name: string, on: boolean): void {
    if (on) {
      this.#held.add(name);
    } else {
      this.#held.delete(name);
      // The new holder serves the other nodes' members once they list them with it.
      for (const [key, member] of this.#remote) {
        if (member.consumer !== name) continue;
        this.#remote.delete(key);
        this.#consumers?.get(name)?.leave(member);
      }
    }
    this.#channels.enter(HOLDING + name, on).catch(() => {}); // written again once the engine is back
    this.#list(name);
  }

  remote(name: string): ConsumerRemote {
    return {
      joined: (member, maxInFlight) => {
        if (member instanceof RemoteMember) return;
        const id = String(++this.#nextId);
        this.#idOf.set(member, id);
        let members = this.#local.get(name);
        if (!members) this.#local.set(name, members = new Map());
        members.set(id, { member, maxInFlight });
        this.#list(name);
      },
      left: (member) => {
        const id = this.#idOf.get(member);
        if (id === undefined) return;
        this.#idOf.delete(member);
        const members = this.#local.get(name);
        members?.delete(id);
        this.#list(name);
        if (members?.size === 0) this.#local.delete(name);
      },
      settle: (seq, kind, delayMs) => this.#settle(name, seq, kind, delayMs),
    };
  }

  // RegistryListener: which node holds which lease, and which nodes are gone.

  reset(node: string, entries: ReadonlySet<string>): void {
    this.#dropHolder(node);
    for (const entry of entries) this.added(node, entry);
  }

  added(node: string, entry: string): void {
    if (!entry.startsWith(HOLDING)) return;
    const name = entry.slice(HOLDING.length);
    this.#holders.set(name, node);
    this.#list(name);
  }

  removed(node: string, entry: string): void {
    if (!entry.startsWith(HOLDING)) return;
    const name = entry.slice(HOLDING.length);
    if (this.#holders.get(name) === node) this.#holders.delete(name);
  }

  gone(node: string): void {
    this.#dropHolder(node);
    // Its members' unacked deliveries go to the others now.
    for (const [key, member] of this.#remote) {
      if (member.node !== node) continue;
      this.#remote.delete(key);
      this.#consumers?.get(member.consumer)?.leave(member);
    }
  }

  #dropHolder(node: string): void {
    for (const [name, holder] of this.#holders) if (holder === node) this.#holders.delete(name);
  }

  // A member node's side.

  /** Lists this node's members of `name` with its holder (and with none when it holds it). */
  #list(name: string): void {
    const holder = this.#held.has(name) ? undefined : this.#holders.get(name);
    const before = this.#listedAt.get(name);
    if (before !== undefined && before !== holder) {
      this.#send(before, { t: "members", c: name, m: [] });
      this.#listedAt.delete(name);
    }
    if (holder === undefined) return;
    const members = this.#local.get(name);
    const list: [string, number][] = [...members ?? []].map(([id, m]) => [id, m.maxInFlight]);
    this.#send(holder, { t: "members", c: name, m: list });
    if (list.length > 0) this.#listedAt.set(name, holder);
    else this.#listedAt.delete(name);
  }

  #settle(name: string, seq: number, kind: AckKind, delayMs?: number): Promise<void> {
    const holder = this.#holders.get(name);
    if (holder === undefined) {
      return Promise.reject(
        new CatbusError(
          ErrorCode.Unavailable,
          `consumer "${name}" is moving to another node; the delivery will come again, ` +
            "settle it then",
        ),
      );
    }
    const r = ++this.#nextRequest;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settling.delete(r);
        reject(
          new CatbusError(
            ErrorCode.Unavailable,
            `the node running consumer "${name}" did not answer within ${this.#timeoutMs} ms; ` +
              "settle again (the delivery may come again first)",
          ),
        );
      }, this.#timeoutMs);
      this.#settling.set(r, { resolve, reject, timer });
      this.#send(holder, { t: "settle", r, c: name, s: seq, k: kind, d: delayMs });
    });
  }

  #delivered(mail: Extract<Mail, { t: "deliver" }>, record: Uint8Array): void {
    const local = this.#local.get(mail.c)?.get(mail.m);
    if (!local) {
      this.#list(mail.c); // the holder still has a member that left: it drops it now
      return;
    }
    const message: BusMessage = toBusMessage(decodeStored(record), mail.epoch, mail.seq, mail.time);
    local.member.deliver({ consumer: mail.c, message, attempt: mail.a });
  }

  #answered(mail: Extract<Mail, { t: "settled" }>): void {
    const waiting = this.#settling.get(mail.r);
    if (!waiting) return;
    this.#settling.delete(mail.r);
    clearTimeout(waiting.timer);
    if (mail.code === undefined) waiting.resolve();
    else waiting.reject(new CatbusError(mail.code, mail.message ?? "settlement refused"));
  }

  // The holder's side.

  #members(from: string, mail: Extract<Mail, { t: "members" }>): void {
    const consumer = this.#held.has(mail.c) ? this.#consumers?.get(mail.c) : undefined;
    if (!consumer) return; // not held here (any more): the member node lists them again
    const listed = new Set<string>();
    for (const [id, maxInFlight] of mail.m) {
      const key = `${from} ${mail.c} ${id}`;
      listed.add(key);
      if (this.#remote.has(key)) continue;
      const member = new RemoteMember(from, mail.c, id, (to, m, r) => this.#send(to, m, r));
      this.#remote.set(key, member);
      consumer.join(member, Math.max(1, Math.min(maxInFlight, consumer.config.maxInFlight)));
    }
    for (const [key, member] of this.#remote) {
      if (member.node !== from || member.consumer !== mail.c || listed.has(key)) continue;
      this.#remote.delete(key);
      consumer.leave(member);
    }
  }

  #settleHere(from: string, mail: Extract<Mail, { t: "settle" }>): void {
    const consumer = this.#held.has(mail.c) ? this.#consumers?.get(mail.c) : undefined;
    const settled = consumer ? consumer.settle(mail.s, mail.k, mail.d) : Promise.reject(
      new CatbusError(
        ErrorCode.Unavailable,
        `consumer "${mail.c}" is run by another node now; the delivery will come again from there`,
      ),
    );
    settled.then(
      () => this.#send(from, { t: "settled", r: mail.r }),
      (e) =>
        this.#send(from, {
          t: "settled",
          r: mail.r,
          code: e instanceof CatbusError ? e.code : ErrorCode.Unavailable,
          message: e instanceof CatbusError ? e.message : "the settlement could not be saved",
        }),
    );
  }

  // The inbox.

  #mail(from: string, body: Uint8Array): void {
    if (body[0] !== CONSUMERS) return;
    try {
      const end = body.indexOf(10);
      const mail: Mail = JSON.parse(decoder.decode(body.subarray(1, end < 0 ? undefined : end)));
      if (mail.t === "members") this.#members(from, mail);
      else if (mail.t === "deliver") this.#delivered(mail, body.subarray(end + 1));
      else if (mail.t === "settle") this.#settleHere(from, mail);
      else if (mail.t === "settled") this.#answered(mail);
    } catch (e) {
      this.#log("warn", "a consumer message from another node could not be read", {
        node: from,
        error: String(e),
      });
    }
  }

  #send(node: string, mail: Mail, record?: Uint8Array): void {
    const line = encoder.encode(JSON.stringify(mail));
    const body = new Uint8Array(1 + line.length + (record ? 1 + record.length : 0));
    body[0] = CONSUMERS;
    body.set(line, 1);
    if (record) {
      body[1 + line.length] = 10;
      body.set(record, 2 + line.length);
    }
    this.#channels.send(node, body).catch((e) =>
      this.#log("debug", "a consumer message to another node was not sent", {
        node,
        error: String(e),
      })
    );
  }

  /** Stops the timers; waiting settlements fail (their deliveries come again). */
  close(): void {
    clearInterval(this.#timer);
    for (const waiting of this.#settling.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(new CatbusError(ErrorCode.Unavailable, "the server is shutting down"));
    }
    this.#settling.clear();
  }
}
