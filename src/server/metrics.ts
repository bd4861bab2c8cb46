/**
 * The server's metrics in the Prometheus text format (prom-client), served at GET /metrics.
 * Labels are bounded: a door (the registered doors and the native ones) and a namespace (the
 * first `maxNamespaces` seen; the rest are summed as `_other`), never a channel or a client.
 * Per-message counts are plain numbers, turned into samples only when scraped.
 */
import client from "prom-client";
import type { DoorMeter } from "../core/meter.ts";
import type { Consumer } from "../streams/consumer.ts";
import { namespaceOf } from "../../client/shared/subject.ts";
import { wholeResponse } from "../transport/http-response.ts";

/** The label of namespaces past the cap. */
export const OTHER_NAMESPACES = "_other";

interface Traffic {
  published: number;
  publishedBytes: number;
  delivered: number;
  deliveredBytes: number;
  replayed: number;
  replayedBytes: number;
  dropped: number;
}

const noTraffic = (): Traffic => ({
  published: 0,
  publishedBytes: 0,
  delivered: 0,
  deliveredBytes: 0,
  replayed: 0,
  replayedBytes: 0,
  dropped: 0,
});

/** What the metrics read when scraped: the server's parts that hold gauges. */
export interface MetricSources {
  /** Connections open now on each door (its --max-connections-per-door slots). */
  connections(): Iterable<[door: string, open: number]>;
  /** Authenticated live connections and streams over every door. */
  liveConnections(): number;
  namespaces(): number;
  consumers(): Iterable<Consumer>;
  /** False while a shared engine (Valkey) cannot be reached. */
  engineAvailable(): boolean;
}

const LATENCY_BUCKETS = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
];

export class ServerMetrics {
  readonly registry = new client.Registry();
  readonly #maxNamespaces: number;
  readonly #named = new Set<string>();
  /** door → namespace label → counts. */
  readonly #traffic = new Map<string, Map<string, Traffic>>();
  readonly #storageFailures = new Map<string, number>();
  readonly #fsync: client.Histogram;
  readonly #commit: client.Histogram;

  constructor(options: { version: string; maxNamespaces: number; sources: MetricSources }) {
    this.#maxNamespaces = options.maxNamespaces;
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    new client.Gauge({
      name: "catbus_build_info",
      help: "The running catbusd's version (always 1).",
      labelNames: ["version"],
      registers,
    }).set({ version: options.version }, 1);
    const { sources } = options;
    new client.Gauge({
      name: "catbus_connections",
      help: "Connections open now, per door (HTTP counts requests in progress, an open " +
        "WebSocket or SSE stream until it ends).",
      labelNames: ["door"],
      registers,
      collect() {
        this.reset();
        for (const [door, open] of sources.connections()) this.set({ door }, open);
      },
    });
    new client.Gauge({
      name: "catbus_live_connections",
      help: "Authenticated connections and streams over every door.",
      registers,
      collect() {
        this.set(sources.liveConnections());
      },
    });
    new client.Gauge({
      name: "catbus_namespaces",
      help: "Namespaces open (stored and in memory).",
      registers,
      collect() {
        this.set(sources.namespaces());
      },
    });
    const trafficByDoor = this.#traffic;
    const traffic = (name: string, help: string, field: keyof Traffic) =>
      new client.Counter({
        name,
        help,
        labelNames: ["namespace", "door"],
        registers,
        collect() {
          this.reset();
          for (const [door, byNamespace] of trafficByDoor) {
            for (const [namespace, t] of byNamespace) {
              if (t[field]) this.inc({ namespace, door }, t[field]);
            }
          }
        },
      });
    traffic("catbus_published_messages_total", "Messages accepted for publishing.", "published");
    traffic(
      "catbus_published_bytes_total",
      "Payload bytes accepted for publishing (bytes in).",
      "publishedBytes",
    );
    traffic(
      "catbus_delivered_messages_total",
      "Messages handed to connections: live, replayed and from durable consumers.",
      "delivered",
    );
    traffic(
      "catbus_delivered_bytes_total",
      "Payload bytes handed to connections (bytes out).",
      "deliveredBytes",
    );
    traffic(
      "catbus_replayed_messages_total",
      "Of the deliveries, messages replayed (resume, from).",
      "replayed",
    );
    traffic("catbus_replayed_bytes_total", "Payload bytes replayed.", "replayedBytes");
    traffic(
      "catbus_slow_consumer_drops_total",
      "Live messages dropped for connections that fell behind (each told of its gap).",
      "dropped",
    );
    new client.Gauge({
      name: "catbus_engine_up",
      help: "1 while the stream engine can be reached (a shared engine: Valkey), else 0.",
      registers,
      collect() {
        this.set(sources.engineAvailable() ? 1 : 0);
      },
    });
    const failures = this.#storageFailures;
    new client.Counter({
      name: "catbus_storage_failures_total",
      help: "Messages whose append the storage engine refused (a full disk, a failed fsync).",
      labelNames: ["namespace"],
      registers,
      collect() {
        this.reset();
        for (const [namespace, n] of failures) this.inc({ namespace }, n);
      },
    });
    const consumerCounts = () => {
      const byNamespace = new Map<
        string,
        { pending: number; redelivered: number; deadLettered: number; consumers: number }
      >();
      for (const c of sources.consumers()) {
        const namespace = this.namespaceLabel(namespaceOf(c.config.pattern));
        const sum = byNamespace.get(namespace) ??
          { pending: 0, redelivered: 0, deadLettered: 0, consumers: 0 };
        const counts = c.counts();
        sum.pending += counts.pending;
        sum.redelivered += counts.redelivered;
        sum.deadLettered += counts.deadLettered;
        sum.consumers++;
        byNamespace.set(namespace, sum);
      }
      return byNamespace;
    };
    const perConsumerNamespace = (
      name: string,
      help: string,
      field: "pending" | "redelivered" | "deadLettered" | "consumers",
      type: typeof client.Gauge | typeof client.Counter,
    ) =>
      new type({
        name,
        help,
        labelNames: ["namespace"],
        registers,
        collect(this: client.Gauge | client.Counter) {
          this.reset();
          for (const [namespace, sum] of consumerCounts()) {
            if (this instanceof client.Gauge) this.set({ namespace }, sum[field]);
            else if (sum[field]) this.inc({ namespace }, sum[field]);
          }
        },
      });
    perConsumerNamespace(
      "catbus_consumers",
      "Durable consumers, by the namespace they read.",
      "consumers",
      client.Gauge,
    );
    perConsumerNamespace(
      "catbus_consumer_pending_messages",
      "Messages delivered to durable consumers and not yet acked, or waiting for redelivery.",
      "pending",
      client.Gauge,
    );
    perConsumerNamespace(
      "catbus_consumer_redeliveries_total",
      "Redeliveries by durable consumers since the server started.",
      "redelivered",
      client.Counter,
    );
    perConsumerNamespace(
      "catbus_consumer_dead_letters_total",
      "Messages durable consumers gave up on and stored as dead letters since the server started.",
      "deadLettered",
      client.Counter,
    );
    this.#fsync = new client.Histogram({
      name: "catbus_log_fsync_seconds",
      help: "How long each fsync of a log segment took.",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#commit = new client.Histogram({
      name: "catbus_log_append_seconds",
      help: "How long each batch of appends took to be written and acknowledged (with the " +
        "fsync under --fsync always).",
      buckets: LATENCY_BUCKETS,
      registers,
    });
  }

  /** The namespace's label: its name while under the cap, else `_other`. */
  namespaceLabel(namespace: string): string {
    if (this.#named.has(namespace)) return namespace;
    if (this.#named.size >= this.#maxNamespaces) return OTHER_NAMESPACES;
    this.#named.add(namespace);
    return namespace;
  }

  /** The counters of one door, handed to it at registration (see access/metered.ts). */
  door(name: string): DoorMeter {
    let byNamespace = this.#traffic.get(name);
    if (!byNamespace) this.#traffic.set(name, byNamespace = new Map());
    // The last namespace's counters are kept at hand: a namespace's label never changes (names
    // only join the set), and consecutive messages are mostly of one namespace.
    let lastNamespace: string | undefined, lastTraffic: Traffic | undefined;
    const of = (namespace: string) => {
      if (namespace === lastNamespace) return lastTraffic!;
      const label = this.namespaceLabel(namespace);
      let t = byNamespace!.get(label);
      if (!t) byNamespace!.set(label, t = noTraffic());
      lastNamespace = namespace;
      return lastTraffic = t;
    };
    return {
      published(namespace, bytes) {
        const t = of(namespace);
        t.published++;
        t.publishedBytes += bytes;
      },
      delivered(namespace, bytes) {
        const t = of(namespace);
        t.delivered++;
        t.deliveredBytes += bytes;
      },
      replayed(namespace, bytes) {
        const t = of(namespace);
        t.replayed++;
        t.replayedBytes += bytes;
      },
      dropped(namespace) {
        of(namespace).dropped++;
      },
    };
  }

  /** Messages published and delivered since start, over every door and namespace. */
  totals(): { published: number; delivered: number } {
    let published = 0, delivered = 0;
    for (const byNamespace of this.#traffic.values()) {
      for (const t of byNamespace.values()) {
        published += t.published;
        delivered += t.delivered;
      }
    }
    return { published, delivered };
  }

  storageFailed(namespace: string, messages: number): void {
    const label = this.namespaceLabel(namespace);
    this.#storageFailures.set(label, (this.#storageFailures.get(label) ?? 0) + messages);
  }

  fsynced(seconds: number): void {
    this.#fsync.observe(seconds);
  }

  committed(seconds: number): void {
    this.#commit.observe(seconds);
  }

  /** The GET /metrics response. */
  async respond(): Promise<Response> {
    return wholeResponse(await this.registry.metrics(), {
      headers: { "content-type": this.registry.contentType, "cache-control": "no-store" },
    });
  }
}
