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
    const lines = [
      "# HELP pulsar_http_requests_total HTTP requests by route template, method and status.",
      "# TYPE pulsar_http_requests_total counter",
      ...[...this.#requests].map(([k, v]) => `pulsar_http_requests_total{${k}} ${v}`),
      "# HELP pulsar_messages_received_total Messages accepted by POST /api/v1/messages(/bulk).",
      "# TYPE pulsar_messages_received_total counter",
      `pulsar_messages_received_total ${this.messagesReceived}`,
      "# HELP pulsar_active_websocket_connections Open WebSocket connections.",
      "# TYPE pulsar_active_websocket_connections gauge",
      `pulsar_active_websocket_connections ${gauges.websockets}`,
      "# HELP pulsar_active_poll_waiters Long-polls waiting now.",
      "# TYPE pulsar_active_poll_waiters gauge",
      `pulsar_active_poll_waiters ${gauges.pollWaiters}`,
      "# HELP pulsar_users Users in the store.",
      "# TYPE pulsar_users gauge",
      `pulsar_users ${gauges.users}`,
      "# HELP pulsar_topics Topics in the store.",
      "# TYPE pulsar_topics gauge",
      `pulsar_topics ${gauges.topics}`,
    ];
    return lines.join("\n") + "\n";
  }
}
