import { matches } from "../../client/shared/subject.ts";
import { SubjectTrie } from "../../client/shared/subject-trie.ts";
import type { Logger } from "../core/logger.ts";
import type { BusMessage } from "../core/message.ts";
import type { Peers } from "../core/peers.ts";
import type { PublishInput } from "../core/broker.ts";
import type { NodeChannels, RegistryListener } from "./node-channels.ts";
import { decodeStored, encodeAppended } from "./record.ts";

/** What the relay needs of this node's broker. */
export interface RelayedBroker {
  publish(input: PublishInput): Promise<unknown>;
  peerAcked(namespace: string, seq: number): void;
}

/** Registry entries: a client subscription pattern, and a namespace whose acks are awaited. */
const SUBSCRIPTION = "s ";
const CONFIRMING = "c ";
/** Inbox bodies start with their kind: a forwarded reply, or acks ("namespace seq seq…" lines). */
const REPLY = 0x6d; // m
const ACKS = 0x61; // a

/** How long acks are remembered for a node that starts waiting for them (see `#recentAcks`). */
const ACK_MEMORY_MS = 30_000;
const MAX_ACK_MEMORY = 10_000;
/**
 * How long a reply no other node is known to want is kept, and how many: the requester's inbox
 * listing can reach the responder's node after the request did (on a Redis Cluster the two
 * travel different shards), and the reply goes out when it arrives.
 */
const UNCLAIMED_REPLY_MS = 3_000;
const MAX_UNCLAIMED_REPLIES = 1_000;
/** A namespace stays listed as awaited this long after its last confirmation settled. */
const CONFIRM_LINGER_MS = 60_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Requests, replies and confirmations across the nodes of a cluster, on the engine's node
 * channels (the broker's Peers). Every node lists its client subscription patterns in the
 * registry and mirrors the others' in a trie: a request finds responders on any node; a reply
 * published here goes to the inboxes of the nodes subscribed to it (replies are not stored). A
 * node whose publish waits for acks lists the namespace; the nodes whose consumers ack its
 * messages send those acks to its inbox, and the acks of the last seconds once it appears, so
 * an ack that came before the listing is not lost.
 */
export class NodeRelay implements Peers, RegistryListener {
  readonly #channels: NodeChannels;
  readonly #log: Logger;
  #broker?: RelayedBroker;
  /** The other nodes' subscription patterns → their node ids. */
  readonly #remote = new SubjectTrie<string>();
  /** Each other node's subscription patterns (to drop them when it is reset or gone). */
  readonly #patternsOf = new Map<string, Set<string>>();
  /** Namespace → the other nodes waiting for its acks. */
  readonly #confirmers = new Map<string, Set<string>>();
  /** This node's confirmations waiting per namespace, and the timers that unlist idle ones. */
  readonly #confirming = new Map<string, number>();
  readonly #unlisting = new Map<string, ReturnType<typeof setTimeout>>();
  /** Recent acks of this node's consumers, oldest first: "namespace seq" → when. */
  readonly #recentAcks = new Map<string, number>();
  /** Acks to send at the end of this turn: node → namespace → seqs. */
  #outbox?: Map<string, Map<string, number[]>>;
  /** Ids of replies that came from another node: not forwarded again. */
  readonly #relayed = new Set<string>();
  /** Replies published here that no other node was known to want yet, oldest first, by id. */
  readonly #unclaimed = new Map<string, { channel: string; body: Uint8Array; at: number }>();

  constructor(channels: NodeChannels, log: Logger) {
    this.#channels = channels;
    this.#log = log;
  }

  /** Starts relaying for `broker` (made with this relay as its peers). */
  start(broker: RelayedBroker): void {
    this.#broker = broker;
    this.#channels.onMail((from, body) => this.#mail(from, body));
    this.#channels.watch(this);
  }

  // Peers: what the broker asks and tells.

  responds(channel: string): boolean {
    return this.#remote.size > 0 && this.#remote.match(channel).length > 0;
  }

  interest(pattern: string, on: boolean): Promise<void> {
    return this.#channels.enter(SUBSCRIPTION + pattern, on);
  }

  forward(message: BusMessage): void {
    if (this.#relayed.delete(message.id)) return;
    const record = encodeAppended(message, undefined);
    const body = new Uint8Array(record.length + 1);
    body[0] = REPLY;
    body.set(record, 1);
    const nodes = this.#remote.size === 0 ? [] : this.#remote.match(message.channel);
    if (nodes.length === 0) return this.#keepUnclaimed(message, body);
    for (const node of new Set(nodes)) this.#send(node, body);
  }

  #keepUnclaimed(message: BusMessage, body: Uint8Array): void {
    const now = Date.now();
    for (const [id, reply] of this.#unclaimed) {
      if (this.#unclaimed.size < MAX_UNCLAIMED_REPLIES && reply.at > now - UNCLAIMED_REPLY_MS) {
        break;
      }
      this.#unclaimed.delete(id);
    }
    this.#unclaimed.set(message.id, { channel: message.channel, body, at: now });
  }

  /** `node` now subscribes to `pattern`: the recent replies it matches are its. */
  #claim(node: string, pattern: string): void {
    const since = Date.now() - UNCLAIMED_REPLY_MS;
    for (const [id, reply] of this.#unclaimed) {
      if (reply.at <= since) this.#unclaimed.delete(id);
      else if (matches(pattern, reply.channel)) {
        this.#unclaimed.delete(id);
        this.#send(node, reply.body);
      }
    }
  }

  acked(namespace: string, seq: number): void {
    const now = Date.now();
    const key = `${namespace} ${seq}`;
    this.#recentAcks.delete(key);
    this.#recentAcks.set(key, now);
    for (const [oldest, at] of this.#recentAcks) {
      if (this.#recentAcks.size <= MAX_ACK_MEMORY && at > now - ACK_MEMORY_MS) break;
      this.#recentAcks.delete(oldest);
    }
    for (const node of this.#confirmers.get(namespace) ?? []) this.#queueAck(node, namespace, seq);
  }

  confirming(namespace: string, on: boolean): void {
    const count = (this.#confirming.get(namespace) ?? 0) + (on ? 1 : -1);
    if (count > 0) {
      this.#confirming.set(namespace, count);
      clearTimeout(this.#unlisting.get(namespace));
      this.#unlisting.delete(namespace);
      if (on && count === 1) this.#enter(CONFIRMING + namespace, true);
      return;
    }
    this.#confirming.delete(namespace);
    // Listed a while longer: a publisher that confirms one message after another is not
    // listed and unlisted for each.
    this.#unlisting.set(
      namespace,
      setTimeout(() => {
        this.#unlisting.delete(namespace);
        if (!this.#confirming.has(namespace)) this.#enter(CONFIRMING + namespace, false);
      }, CONFIRM_LINGER_MS),
    );
  }

  // RegistryListener: the other nodes' entries.

  reset(node: string, entries: ReadonlySet<string>): void {
    this.gone(node);
    for (const entry of entries) this.added(node, entry);
  }

  added(node: string, entry: string): void {
    if (entry.startsWith(SUBSCRIPTION)) {
      const pattern = entry.slice(SUBSCRIPTION.length);
      let patterns = this.#patternsOf.get(node);
      if (!patterns) this.#patternsOf.set(node, patterns = new Set());
      patterns.add(pattern);
      this.#remote.insert(pattern, node);
      if (this.#unclaimed.size > 0) this.#claim(node, pattern);
    } else if (entry.startsWith(CONFIRMING)) {
      const namespace = entry.slice(CONFIRMING.length);
      let nodes = this.#confirmers.get(namespace);
      if (!nodes) this.#confirmers.set(namespace, nodes = new Set());
      if (nodes.has(node)) return;
      nodes.add(node);
      // What this node's consumers acked before it learnt that `node` waits.
      const prefix = namespace + " ";
      for (const key of this.#recentAcks.keys()) {
        if (key.startsWith(prefix)) {
          this.#queueAck(node, namespace, Number(key.slice(prefix.length)));
        }
      }
    }
  }

  removed(node: string, entry: string): void {
    if (entry.startsWith(SUBSCRIPTION)) {
      const pattern = entry.slice(SUBSCRIPTION.length);
      this.#patternsOf.get(node)?.delete(pattern);
      this.#remote.remove(pattern, node);
    } else if (entry.startsWith(CONFIRMING)) {
      this.#confirmers.get(entry.slice(CONFIRMING.length))?.delete(node);
    }
  }

  gone(node: string): void {
    for (const pattern of this.#patternsOf.get(node) ?? []) this.#remote.remove(pattern, node);
    this.#patternsOf.delete(node);
    for (const nodes of this.#confirmers.values()) nodes.delete(node);
  }

  // The inbox.

  #mail(from: string, body: Uint8Array): void {
    try {
      if (body[0] === REPLY) this.#reply(body.subarray(1));
      else if (body[0] === ACKS) this.#acks(decoder.decode(body.subarray(1)));
    } catch (e) {
      this.#log("warn", "a message from another node could not be read", {
        node: from,
        error: String(e),
      });
    }
  }

  /** A reply another node forwarded: published into this node's reply namespace. */
  #reply(record: Uint8Array): void {
    const stored = decodeStored(record);
    this.#relayed.add(stored.id);
    this.#broker?.publish({
      channel: stored.channel,
      payload: stored.payload.slice(),
      binary: stored.binary,
      headers: stored.headers,
      id: stored.id,
    }).catch((e) => {
      this.#relayed.delete(stored.id);
      this.#log("debug", "a reply from another node was not delivered", {
        channel: stored.channel,
        error: String(e),
      });
    });
  }

  #acks(text: string): void {
    for (const line of text.split("\n")) {
      const [namespace, ...seqs] = line.split(" ");
      for (const seq of seqs) this.#broker?.peerAcked(namespace, Number(seq));
    }
  }

  #queueAck(node: string, namespace: string, seq: number): void {
    if (!this.#outbox) {
      this.#outbox = new Map();
      queueMicrotask(() => this.#sendAcks());
    }
    let byNamespace = this.#outbox.get(node);
    if (!byNamespace) this.#outbox.set(node, byNamespace = new Map());
    const seqs = byNamespace.get(namespace);
    if (seqs) seqs.push(seq);
    else byNamespace.set(namespace, [seq]);
  }

  /** The acks of one turn, one body per node. */
  #sendAcks(): void {
    const outbox = this.#outbox!;
    this.#outbox = undefined;
    for (const [node, byNamespace] of outbox) {
      const lines = [...byNamespace].map(([ns, seqs]) => `${ns} ${seqs.join(" ")}`);
      const text = encoder.encode(lines.join("\n"));
      const body = new Uint8Array(text.length + 1);
      body[0] = ACKS;
      body.set(text, 1);
      this.#send(node, body);
    }
  }

  #send(node: string, body: Uint8Array): void {
    this.#channels.send(node, body).catch((e) =>
      this.#log("debug", "a message to another node was not sent", { node, error: String(e) })
    );
  }

  #enter(entry: string, on: boolean): void {
    this.#channels.enter(entry, on).catch(() => {}); // written again once the engine is back
  }

  /** Stops the linger timers. */
  close(): void {
    for (const timer of this.#unlisting.values()) clearTimeout(timer);
    this.#unlisting.clear();
  }
}
