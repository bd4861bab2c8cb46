/**
 * The door's Prometheus metrics at `GET /metrics`. Labels are bounded: a route template (never a
 * raw path or topic name), a method and a status.
 */
export class PulsarMetrics {
  readonly #requests = new Map<string, number>();
  messagesReceived = 0;

  request(method: string, route: string, status: number): void {
    const key = `method="${method}",route="${route}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }

  render(
    gauges: { websockets: number; pollWaiters: number; users: number; topics: number },
  ): string {
    const metric = (name: string, type: string, help: string, samples: string[]) => [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} ${type}`,
      ...samples,
    ];
    const gauge = (name: string, help: string, value: number) =>
      metric(name, "gauge", help, [`${name} ${value}`]);
    return [
      ...metric(
        "pulsar_http_requests_total",
        "counter",
        "HTTP requests by route template, method and status.",
        [...this.#requests].map(([k, v]) => `pulsar_http_requests_total{${k}} ${v}`),
      ),
      ...metric(
        "pulsar_messages_received_total",
        "counter",
        "Messages accepted by POST /api/v1/messages and /api/v1/messages/bulk.",
        [`pulsar_messages_received_total ${this.messagesReceived}`],
      ),
      ...gauge("pulsar_active_websocket_connections", "Open WebSockets.", gauges.websockets),
      ...gauge("pulsar_active_poll_waiters", "Long-polls waiting now.", gauges.pollWaiters),
      ...gauge("pulsar_users", "Users in the store.", gauges.users),
      ...gauge("pulsar_topics", "Topics in the store.", gauges.topics),
    ].join("\n") + "\n";
  }
}
