import client, { type Registry } from "prom-client";

type RequestLabel = "method" | "route" | "status";

/** What the door's gauges read when scraped. */
export interface PulsarGaugeSources {
  websockets(): number;
  pollWaiters(): number;
  users(): number;
  topics(): number;
}

/**
 * The door's own `pulsar_*` series, registered in the server's registry: the main port's
 * `/metrics` and the door's `GET /metrics` show them with the server's. Labels are bounded: a
 * route template (never a raw path or topic name), a method and a status.
 */
export class PulsarMetrics {
  /** Counted as plain numbers per request, turned into samples only when scraped. */
  readonly #requests = new Map<string, { labels: Record<RequestLabel, string>; n: number }>();
  #received = 0;
  readonly #rateLimited: client.Counter<"limit">;

  constructor(registry: Registry, sources: PulsarGaugeSources) {
    const registers = [registry];
    const requests = this.#requests;
    new client.Counter({
      name: "pulsar_http_requests_total",
      help: "Pulsar Relay HTTP requests by route template, method and status.",
      labelNames: ["method", "route", "status"],
      registers,
      collect() {
        this.reset();
        for (const { labels, n } of requests.values()) this.inc(labels, n);
      },
    });
    const received = () => this.#received;
    new client.Counter({
      name: "pulsar_messages_received_total",
      help: "Messages accepted by POST /api/v1/messages and /api/v1/messages/bulk.",
      registers,
      collect() {
        this.reset();
        this.inc(received());
      },
    });
    this.#rateLimited = new client.Counter({
      name: "pulsar_rate_limited_total",
      help: "Pulsar Relay requests answered 429 by a rate limit, by limit (ip or user).",
      labelNames: ["limit"],
      registers,
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new client.Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge("pulsar_active_websocket_connections", "Open Pulsar WebSockets.", sources.websockets);
    gauge("pulsar_active_poll_waiters", "Pulsar long-polls waiting now.", sources.pollWaiters);
    gauge("pulsar_users", "Pulsar users in the store.", sources.users);
    gauge("pulsar_topics", "Pulsar topics in the store.", sources.topics);
  }

  request(method: string, route: string, status: number): void {
    const key = `${method} ${route} ${status}`;
    const counted = this.#requests.get(key);
    if (counted) counted.n++;
    else this.#requests.set(key, { labels: { method, route, status: String(status) }, n: 1 });
  }

  received(n = 1): void {
    this.#received += n;
  }

  rateLimited(limit: "ip" | "user"): void {
    this.#rateLimited.inc({ limit });
  }
}
