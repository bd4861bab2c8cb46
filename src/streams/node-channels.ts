/**
 * What a shared stream engine gives the nodes of a cluster besides the streams: an inbox per
 * node (a message to one node, at most once, dropped while it is unreachable), and a registry
 * where each node lists entries (its subscription patterns, what it waits for) and its public
 * URLs, refreshed with a TTL so a dead node's vanish. The Valkey engine implements it on pub/sub
 * channels and hashes (valkey/node-channels.ts); a PostgreSQL one fits on LISTEN/NOTIFY on a
 * channel per node (bodies past NOTIFY's 8,000 bytes through a table) and a table with expiry
 * times. NodeRelay (node-relay.ts) builds requests, replies and confirmations across nodes on it;
 * ConsumerRelay (consumer-relay.ts) serves durable consumers' members across nodes.
 */
export interface NodeChannels {
  /** This node's id in the cluster: random per process. */
  readonly node: string;
  /** Sends `body` to node `to`'s inbox; resolves once the engine took it (not once it arrived). */
  send(to: string, body: Uint8Array): Promise<void>;
  /**
   * Hands every body another node sends to this one's inbox to `receive` (and to every other
   * receiver: each tells its own bodies by their first byte).
   */
  onMail(receive: (from: string, body: Uint8Array) => void): void;
  /**
   * Adds (`on`) or removes an entry of this node in the registry; resolves once the others can
   * learn of it (changes of one turn go together). Entries survive an engine outage: the node
   * writes them again when it is back.
   */
  enter(entry: string, on: boolean): Promise<void>;
  /** Tells `listener` (one of several) of the other live nodes' entries, and of every change to them. */
  watch(listener: RegistryListener): void;
  /** The public URLs every live node advertises (this one's included), as last read. */
  urls(): readonly string[];
  /** The live nodes (this one included) with the URLs each advertises, as last read. */
  nodes(): readonly LiveNode[];
  /** This node's public URLs from now on (known once its listeners are up). */
  advertise(urls: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** A node listed in the registry. */
export interface LiveNode {
  node: string;
  urls: readonly string[];
}

/** Told about the other nodes' registry entries; a node is only ever told about others. */
export interface RegistryListener {
  /** `node` holds exactly `entries` (first seen, or read again after a gap or a reconnect). */
  reset(node: string, entries: ReadonlySet<string>): void;
  added(node: string, entry: string): void;
  removed(node: string, entry: string): void;
  /** `node` is gone (it left, or its TTL ran out): none of its entries hold any more. */
  gone(node: string): void;
}

/** What a node asks of its engine's node channels. */
export interface NodeChannelOptions {
  /** This node's public URLs (see --advertise-url). */
  urls: readonly string[];
  /** A node that stops renewing its registry entries is gone after this long (ms). */
  ttlMs: number;
}

/** A stream engine shared by several nodes, which gives them node channels too. */
export interface ClusterEngine {
  /** Starts this node's channels (once): its inbox, its listing and its entries. */
  nodeChannels(options: NodeChannelOptions): Promise<NodeChannels>;
}

export const isClusterEngine = (engine: object): engine is ClusterEngine =>
  typeof (engine as Partial<ClusterEngine>).nodeChannels === "function";
